#!/usr/bin/env bash
# COVID-SemiSeg (Inf-Net's lesion benchmark) into the layout that
# configs/_base_/datasets/covid_semiseg.py reads:
#
#   bash tools/prepare_covid_semiseg.sh SRC [OUT]     (OUT defaults to data/covid_semiseg)
#
# SRC is the `Dataset` folder of GitHub DengPingFan/Inf-Net at commit fb3a03b5b2f7 (or the
# folder that holds it). OUT gets links to the slice images and truth masks (nothing is
# copied) and four COCO files written by tools/dataset_converters/masks_to_coco.py:
#   images/{train,test}                 the 50 training and 48 test slices (8-bit JPEG)
#   gt/{binary,ground_glass,consolidation}  the test truth the Inf-Net protocol reads
#   gt/binary_train                     the training truth (to measure the fit)
#   annotations/binary_{train,test}.json       one class, lesion
#   annotations/multiclass_{train,test}.json   ground_glass, consolidation
# A previous OUT is replaced. Environment: PYTHON (default: the repository's .venv, else
# python3), MIN_AREA (components of at most this many pixels are dropped, default 10).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [[ "$1" == -* ]]; then
  echo "usage: bash $0 SRC_DATASET_DIR [OUT_DIR]" >&2
  exit 2
fi
SRC=$(cd "$1" && pwd)
[ -d "$SRC/Dataset" ] && SRC="$SRC/Dataset"
OUT=${2:-data/covid_semiseg}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
MIN_AREA=${MIN_AREA:-10}

TRAIN_BIN="$SRC/TrainingSet/LungInfection-Train/Doctor-label"
TRAIN_MC="$SRC/TrainingSet/MultiClassInfection-Train"
TEST_BIN="$SRC/TestingSet/LungInfection-Test"
TEST_MC="$SRC/TestingSet/MultiClassInfection-Test"
for dir in "$TRAIN_BIN/Imgs" "$TRAIN_BIN/GT" "$TRAIN_MC/GT" "$TEST_BIN/Imgs" "$TEST_BIN/GT" \
           "$TEST_MC/GT" "$TEST_MC/GT-1" "$TEST_MC/GT-2"; do
  if [ ! -d "$dir" ]; then
    echo "$0: $dir is not a folder; expected Inf-Net's Dataset/ layout" \
         "(TrainingSet/LungInfection-Train/Doctor-label/Imgs, ...)" >&2
    exit 2
  fi
done

rm -rf "$OUT"
mkdir -p "$OUT/images" "$OUT/gt" "$OUT/annotations"
ln -s "$TRAIN_BIN/Imgs" "$OUT/images/train"
ln -s "$TEST_BIN/Imgs" "$OUT/images/test"
ln -s "$TEST_BIN/GT" "$OUT/gt/binary"
ln -s "$TRAIN_BIN/GT" "$OUT/gt/binary_train"
ln -s "$TEST_MC/GT-1" "$OUT/gt/ground_glass"
ln -s "$TEST_MC/GT-2" "$OUT/gt/consolidation"

convert() {  # convert NAME IMAGES MASKS [ARGS...]
  local name=$1 images=$2 masks=$3
  shift 3
  "$PYTHON" "$ROOT/tools/dataset_converters/masks_to_coco.py" --images "$images" \
    --masks "$masks" --out-dir "$OUT/annotations" --name "$name" --min-area "$MIN_AREA" \
    --source-name "COVID-SemiSeg (Inf-Net, MedSeg), $name" "$@"
}
CLASSES=(--classes 1:ground_glass,2:consolidation)
# the training files keep only slices with a lesion; the test files every slice
convert binary_train "$TRAIN_BIN/Imgs" "$TRAIN_BIN/GT" --drop-empty
convert binary_test "$TEST_BIN/Imgs" "$TEST_BIN/GT"
convert multiclass_train "$TRAIN_MC/Imgs" "$TRAIN_MC/GT" "${CLASSES[@]}" --drop-empty
convert multiclass_test "$TEST_MC/Imgs" "$TEST_MC/GT" "${CLASSES[@]}"
