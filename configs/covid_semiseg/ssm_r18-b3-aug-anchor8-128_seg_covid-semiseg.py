# A variant tried on COVID-SemiSeg (docs/real_data.md): anchors 8-128 px instead of the
# paper's 2-32 px (base size 4 instead of 1, the same five scales and six ratios). Its
# lesions reach half a lung (over 200 px at 512); from a 32 px anchor the RPN must regress
# a box 6x larger.
_base_ = './ssm_r18-b3-aug_seg_covid-semiseg.py'

model = dict(rpn_head=dict(anchor_generator=dict(base_sizes=[4])))
