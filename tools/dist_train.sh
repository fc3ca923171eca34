#!/usr/bin/env bash
# Distributed training on N processes (GPUs with nccl, or CPU processes with gloo):
#   bash tools/dist_train.sh CONFIG N [train.py options]
set -euo pipefail
CONFIG=$1
NPROC=$2
PORT=${PORT:-29500}
PYTHON=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
PYTHONPATH="$(dirname "$0")/..:${PYTHONPATH:-}" \
"$PYTHON" -m torch.distributed.run --nnodes=1 --nproc_per_node="$NPROC" \
    --master_port="$PORT" "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
