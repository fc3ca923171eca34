"""Strip a training checkpoint down to what inference and fine-tuning start from.

    python tools/model_converters/publish_model.py IN_FILE OUT_FILE [--half]

Keeps ``meta`` (the class names and palette that the tools read, the config,
the epoch) and ``state_dict``, and drops the optimizer state, the message hub
and the parameter schedulers: the demo's 82.6 MiB checkpoint becomes 31.6 MiB.
``--half`` also stores the floating-point weights as float16 (15.8 MiB; loading
casts them back to float32; float16 keeps 11 significant bits, and weights
below 6e-5 in magnitude lose more).
As mmdet's ``publish_model.py`` does, the output is named after the first 8
hex digits of its SHA-256: ``OUT_FILE`` ``ssm.pth`` becomes
``ssm-1a2b3c4d.pth``. The input is read with ``torch.load(weights_only=True)``
and mmdet_covid's allow-list, so a crafted checkpoint cannot run code.
"""
import argparse
import hashlib
import os
import os.path as osp

KEPT = ('meta', 'state_dict')


def publish(in_file: str, out_file: str, half: bool = False) -> str:
    """Write the stripped checkpoint; returns its final path (hash in the name)."""
    import torch

    import mmdet_covid  # noqa: F401  (the allow-list of mmengine's checkpoint types)
    from mmdet_covid.utils import check_checkpoint_file

    check_checkpoint_file(in_file)
    checkpoint = torch.load(in_file, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        got = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f'{in_file}: not a training checkpoint (a dict with a '
                         f'"state_dict" key), got {got}')
    out = {key: checkpoint[key] for key in KEPT if key in checkpoint}
    if half:
        out['state_dict'] = {
            name: value.half() if torch.is_floating_point(value) else value
            for name, value in out['state_dict'].items()}
    stem, ext = osp.splitext(out_file)
    if ext != '.pth':
        raise ValueError(f'OUT_FILE must end in .pth, got {out_file!r}')
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    torch.save(out, out_file)
    with open(out_file, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    final = f'{stem}-{digest[:8]}{ext}'
    os.replace(out_file, final)
    return final


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('in_file', help='a checkpoint written by training')
    parser.add_argument('out_file', help='where to write it (.pth; the hash is added)')
    parser.add_argument('--half', action='store_true',
                        help='store floating-point weights as float16')
    args = parser.parse_args(argv)
    final = publish(args.in_file, args.out_file, args.half)
    print(f'{final}: {osp.getsize(final) / 2**20:.1f} MiB (from '
          f'{osp.getsize(args.in_file) / 2**20:.1f} MiB)')


if __name__ == '__main__':
    main()
