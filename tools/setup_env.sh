#!/usr/bin/env bash
# Create .venv/ and install the pinned OpenMMLab stack plus this package (editable).
#
# mmcv 2.1.0 has no wheel for torch 2.13, so it is built from source once (13-21
# minutes on 2 cores) and the wheel is cached outside the repository, keyed by
# Python and torch version, so that every later fresh clone installs it in seconds.
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0
CACHE_ROOT=${MMDET_COVID_CACHE:-$HOME/.cache/mmdet_covid/wheels}

step() { printf '\n[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# mmcv's setup.py and openmim import pkg_resources, which the newest setuptools
# no longer ship, while torch 2.13 requires setuptools>=77.0.3: every step below
# is constrained to the window that satisfies both (verified: 77.0.3 and 80.9).
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
printf 'setuptools>=77.0.3,<81\n' > "$constraints"
export PIP_CONSTRAINT="$constraints${PIP_CONSTRAINT:+ $PIP_CONSTRAINT}"

step "torch ${TORCH_VERSION} (CPU build from this machine's disk) and build tools"
# ninja: torch's extension builder compiles mmcv's ops in parallel (MAX_JOBS) with it and
# one file at a time without it
$PIP install -q "torch==${TORCH_VERSION}" setuptools wheel ninja

py_tag=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
wheel_dir="$CACHE_ROOT/${py_tag}-torch${TORCH_VERSION}"
mkdir -p "$wheel_dir"
mmcv_wheel=$(ls "$wheel_dir"/mmcv-${MMCV_VERSION}-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$mmcv_wheel" ]; then
  step "building mmcv ${MMCV_VERSION} with ops from source (13-21 min on 2 cores, once;" \
       "cached in $wheel_dir)"
  tmp_dir=$(mktemp -d)
  # --no-build-isolation: the build must see the torch installed above.
  # the venv's bin/ on PATH: torch looks for the ninja executable there
  PATH="$(cd "$VENV" && pwd)/bin:$PATH" MMCV_WITH_OPS=1 FORCE_CUDA=0 \
    MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    $PIP wheel --no-build-isolation --no-deps --progress-bar on \
    -w "$tmp_dir" "mmcv==${MMCV_VERSION}"
  mv "$tmp_dir"/mmcv-*.whl "$wheel_dir"/
  rmdir "$tmp_dir"
  mmcv_wheel=$(ls "$wheel_dir"/mmcv-${MMCV_VERSION}-*.whl | head -n1)
else
  step "using cached mmcv wheel $mmcv_wheel"
fi
$PIP install -q "$mmcv_wheel"

step "mmengine, mmdet, pycocotools and this package (editable, with the test, tools and ray extras)"
$PIP install -q -e '.[tests,tools,ray]'

"$VENV/bin/python" - <<'PY'
import mmcv, mmdet, mmengine, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  (fails if mmcv lacks its ops)
print(f'torch {torch.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}: ops OK')
PY
step "done in $(( $(date +%s) - start )) s"
