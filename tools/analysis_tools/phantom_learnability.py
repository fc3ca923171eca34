"""The phantom's learnability check: can a plain classifier tell its classes apart?

    python tools/analysis_tools/phantom_learnability.py [--config CONFIG]
        [--work-dir DIR] [--min-f1 0.95] [--skip-train] [--cfg-options KEY=VALUE ...]

Before the SSM is asked to classify the phantom's slices, a plain ResNet18 image
classifier trained from scratch with a standard recipe must do it on patients it
has never seen; otherwise the phantom, not the model, decides the SSM's figures.
This trains the baseline with ``tools/train.py`` (the default config: batch 16,
Adam 1e-3 with cosine decay, 512x512, flips, 12 epochs, bfloat16 arithmetic on a
CPU that has it; about 25 minutes on 2 cores), takes the checkpoint that is best on
the val split, runs ``phantom_errors.py`` on the test split (errors by class and
difficulty; the table is also written to ``<work dir>/phantom_errors.json``) and
exits with status 1 when the weighted F1 is below ``--min-f1``.

The phantom is the one in the config's ``cls_data_root`` (``data/phantom/``, as
``make demo`` or ``tools/prepare_phantom.sh`` writes it).
"""
import argparse
import glob
import json
import os.path as osp
import subprocess
import sys

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
CONFIG = osp.join(REPO, 'configs', 'baselines', 'resnet18_b16-adam-cos-flip_12e_phantom-512.py')


def best_checkpoint(work_dir: str) -> str:
    """The ``best_*.pth`` that mmengine's CheckpointHook kept in ``work_dir``."""
    found = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')))
    if len(found) != 1:
        raise FileNotFoundError(
            f'{work_dir}: expected one best_*.pth (the best epoch on the val split, '
            f'kept by the config\'s save_best), found {len(found)}: {found}')
    return found[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--work-dir', help='default: work_dirs/<config name>')
    parser.add_argument('--min-f1', type=float, default=0.95,
                        help='weighted F1 on the test patients that the check asks for')
    parser.add_argument('--skip-train', action='store_true',
                        help='check the best checkpoint of an earlier run in --work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config keys, passed on as given to the training '
                             'and the test, e.g. cls_data_root=data/phantom/')
    args = parser.parse_args(argv)
    work_dir = args.work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    options = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    if not args.skip_train:
        cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), args.config,
               '--work-dir', work_dir] + options
        print('[learnability] ' + ' '.join(cmd), flush=True)
        subprocess.run(cmd, check=True)

    checkpoint = best_checkpoint(work_dir)
    table = osp.join(work_dir, 'phantom_errors.json')
    subprocess.run([sys.executable, osp.join(HERE, 'phantom_errors.py'), args.config,
                    checkpoint, '--out', table] + options, check=True)
    with open(table) as f:
        f1 = json.load(f)['f1_weighted']
    passed = f1 >= args.min_f1
    print(f'[learnability] weighted F1 on the test patients {f1:.3f} '
          f'{">=" if passed else "<"} {args.min_f1}: {"passed" if passed else "FAILED"}')
    return 0 if passed else 1


if __name__ == '__main__':
    sys.exit(main())
