#!/usr/bin/env bash
# Generate the synthetic chest-CT phantom in the raw CNCB-nCoV / COVIDx-CT formats and
# convert it into the annotation files that configs/_base_/datasets/*.py read.
#
#   bash tools/prepare_phantom.sh data/phantom [make_phantom_data.py args ...]
#   e.g. bash tools/prepare_phantom.sh data/phantom --seg 300 --cls 1500 --seed 0
#
# A phantom previously written to OUT is replaced. Environment: PYTHON (default: the
# repository's .venv, else python3), MIN_AREA (area rule of the lesion set, default
# 100 px; lower it for phantoms smaller than 512x512).
set -euo pipefail

if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "usage: bash $0 OUT_DIR [make_phantom_data.py args ...]" >&2
  exit 2
fi
OUT=$1
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
MIN_AREA=${MIN_AREA:-100}
CONV="$ROOT/tools/dataset_converters"

"$PYTHON" "$ROOT/tools/make_phantom_data.py" --out "$OUT" --overwrite "$@"
# What the data is, recorded in the annotation files and in every checkpoint trained on
# them: synthetic, and the phantom's field of view.
read -r VERSION FOV < <("$PYTHON" -c \
  'import mmdet_covid.datasets.phantom as m; print(m.GENERATOR_VERSION, m.FIELD_OF_VIEW_MM)')
SOURCE=(--source-name "mmdet-covid synthetic phantom (generator version $VERSION)" --synthetic
        --fov-mm "$FOV")

# Lesion set: training drops slices without lesions, the test split keeps them.
"$PYTHON" "$CONV/cncb_to_coco.py" --img-dir "$OUT/seg/image" --mask-dir "$OUT/seg/mask" \
  --split-file "$OUT/seg/train.txt" --min-area "$MIN_AREA" \
  --out "$OUT/annotations/lesion_train.json" "${SOURCE[@]}"
"$PYTHON" "$CONV/cncb_to_coco.py" --img-dir "$OUT/seg/image" --mask-dir "$OUT/seg/mask" \
  --split-file "$OUT/seg/test.txt" --min-area "$MIN_AREA" --keep-empty \
  --out "$OUT/annotations/lesion_test.json" "${SOURCE[@]}"

# Classification splits, img_path relative to $OUT/cls; the first one checks that no
# patient appears in two splits.
for split in train val test; do
  others=()
  if [ "$split" = train ]; then
    others=(--other-splits "$OUT/cls/val_COVIDx_CT.txt" "$OUT/cls/test_COVIDx_CT.txt"
            --fail-on-shared-patients)
  fi
  "$PYTHON" "$CONV/covidx_ct.py" --label-file "$OUT/cls/${split}_COVIDx_CT.txt" \
    --img-dir "$OUT/cls/$split" --relative-to "$OUT/cls" \
    --out "$OUT/annotations/covidx_${split}.json" "${others[@]}" "${SOURCE[@]}"
done
