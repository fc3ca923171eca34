# Paper schedule: one Adam optimiser (lr 1e-5, weight decay 1e-3), 50 epochs;
# an epoch is one pass over the classification training set.
optim_wrapper = dict(
    type='OptimWrapper',
    # keeps the frozen classification RoI branch out of the optimiser
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=1e-5, weight_decay=1e-3))
param_scheduler = []  # constant learning rate, as in the paper
