"""The three real COVID-CT-MD series (Siemens, low dose, JPEG Lossless, anonymised) read
as real hospital DICOM: slice count, order by position, spacing, HU range."""
import csv
import os.path as osp

import numpy as np
import pytest

from mmdet_covid.io.scan_reader import read_ct_volume

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
    """From the authors' Index.csv and label array: cap001 takes the row at its position
    in Index.csv (54: 86 infected slices, where its CT shows consolidation), not the row
    of its Label Index (55: 30 slices), which the file's numbering gap (no 43) shifts."""
    from mmdet_covid.datasets.covid_ct_md import read_slice_labels

    labels = read_slice_labels(covid_ct_md)
    assert {s: (v['class'], len(v['infected']), sum(v['infected'].values()))
            for s, v in labels.items()} == {'P001': ('COVID-19', 148, 80),
                                            'cap001': ('CAP', 168, 86),
                                            'normal001': ('Normal', 154, 0)}


def test_a_malformed_index_row_is_named(tmp_path):
    from mmdet_covid.datasets.covid_ct_md import read_index

    (tmp_path / 'Index.csv').write_text('Label Index,Diagnosis,Relative Path,Folder/ID\n'
                                        '0,COVID-19,./,P001\n1,Flu,./,P002\n')
    with pytest.raises(ValueError, match=r"Index.csv:3: Diagnosis 'Flu'; expected the columns"):
        read_index(str(tmp_path / 'Index.csv'))
