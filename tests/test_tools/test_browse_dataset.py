"""browse_dataset.py: both sets of an SSM config drawn, one file per slice, no clash."""
import json
import os.path as osp

import pytest

from tests.conftest import load_tool


def _drawn(root):
    import glob
    return sorted(osp.relpath(p, root) for p in glob.glob(f'{root}/**/*.png', recursive=True))


def test_lesion_and_classification_sets_are_drawn_at_their_relative_paths(
        model_files, prepared_phantom, tmp_path, capsys):
    main = load_tool('analysis_tools/browse_dataset.py').main

    config, _ = model_files
    out = str(tmp_path / 'lesion')
    assert main([config, '--set', 'lesion', '--output-dir', out]) == 0
    with open(osp.join(prepared_phantom, 'annotations', 'lesion_train.json')) as f:
        images = sorted(img['file_name'] for img in json.load(f)['images'])
    assert _drawn(out) == images  # <scan>/<frame>.png: frames of two scans apart
    out = str(tmp_path / 'cls')
    # the data-root key applies here too
    assert main([config, '--set', 'cls', '--split', 'test', '--output-dir', out,
                 '--max-samples', '2', '--cfg-options', f'cls_data_root={prepared_phantom}']) == 0
    assert len(_drawn(out)) == 2 and all(p.startswith('test/') for p in _drawn(out))
    with pytest.raises(SystemExit, match='--set lesion has no val split'):
        main([config, '--set', 'lesion', '--split', 'val'])
