"""The three real COVID-CT-MD series (Siemens, low dose, JPEG Lossless, anonymised) read
as real hospital DICOM: slice count, order by position, spacing, HU range."""
import csv
import os.path as osp

import numpy as np
import pytest

from mmdet_covid.datasets.scan_reader import read_ct_volume

# slices, pixel spacing (mm), first and last slice z (mm, feet to head)
SERIES = {'P001': (148, 0.748046875, -346.1, -52.1),
          'cap001': (168, 0.58984375, -401.9, -67.9),
          'normal001': (154, 0.634765625, -330.5, -24.5)}


@pytest.mark.parametrize('subject', sorted(SERIES))
def test_a_real_series_is_read_in_order_with_its_geometry(covid_ct_md, subject):
    slices, pixel, first, last = SERIES[subject]
    vol = read_ct_volume(osp.join(covid_ct_md, subject))
    assert vol.kind == 'dicom' and vol.hu.shape == (slices, 512, 512)
    assert vol.series['transfer_syntax'].startswith('JPEG Lossless')
    assert vol.spacing == pytest.approx((2.0, pixel, pixel)) and not vol.uneven
    assert vol.slice_z_mm[0] == pytest.approx(first) and vol.slice_z_mm[-1] == pytest.approx(
        last)
    assert (np.diff(vol.slice_z_mm) == pytest.approx(2.0))  # feet to head, every 2 mm
    # by position, not by file name: the table's SliceLocation of each file agrees
    with open(osp.join(covid_ct_md, 'slice_labels.csv')) as f:
        location = {r['file']: float(r['SliceLocation']) for r in csv.DictReader(f)
                    if r['subject'] == subject}
    np.testing.assert_allclose([location[n] for n in vol.slice_names], vol.slice_z_mm,
                               atol=0.05)
    assert vol.slice_names != sorted(vol.slice_names)
    # real HU: room air at -1024 (RescaleIntercept -1024), soft tissue, bone
    assert vol.hu.min() == -1024 and 1000 < vol.hu.max() < 3100
    assert -900 < float(np.median(vol.hu)) < 0
    # anonymised: the type-2 patient attributes are absent
    assert 'PatientName' not in vol.series['datasets'][0]


def test_the_slice_labels_of_the_sample(covid_ct_md):
    from mmdet_covid.datasets.covid_ct_md import read_slice_labels

    labels = read_slice_labels(covid_ct_md)
    assert {s: (v['class'], len(v['infected']), sum(v['infected'].values()))
            for s, v in labels.items()} == {'P001': ('COVID-19', 148, 80),
                                            'cap001': ('CAP', 168, 30),
                                            'normal001': ('Normal', 154, 0)}


def test_a_malformed_label_row_is_named(tmp_path):
    from mmdet_covid.datasets.covid_ct_md import read_slice_labels

    (tmp_path / 'slice_labels.csv').write_text('class,subject,file,infected\n'
                                                'Normal,n1,a.dcm,0\nNormal,n1,b.dcm,yes\n')
    with pytest.raises(ValueError, match=r'slice_labels.csv:3: .*expected the columns'):
        read_slice_labels(str(tmp_path))
