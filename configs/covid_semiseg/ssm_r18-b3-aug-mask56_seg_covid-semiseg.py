# A variant tried on COVID-SemiSeg (docs/real_data.md): 56x56 lesion masks instead of
# 28x28, the 14x14 RoI features upsampled 4x by the mask head's deconvolution (kernel and
# stride 4) instead of 2x, and trained against 56x56 targets. Ground glass is ragged; a
# 28x28 mask over a lesion of 200 px draws its border in 7 px steps.
_base_ = './ssm_r18-b3-aug_seg_covid-semiseg.py'

model = dict(roi_head=dict(mask_head=dict(upsample_cfg=dict(type='deconv', scale_factor=4))),
             train_cfg=dict(rcnn=dict(mask_size=56)))
