#!/usr/bin/env bash
# Every GPU figure docs/benchmarks.md reports, in one run:
#   bash tools/analysis_tools/gpu_report.sh OUT_DIR [CHECKPOINT INPUT ...]
# 1. the CUDA tests (tests/test_models/test_cuda.py);
# 2. tools/benchmark.py in float32 and with AMP: SSM and stock Mask R-CNN R50, batches 1, 8
#    and 64, training at batch 1 and 8;
# 3. profile_inference.py by component, timed at batch 1 (float32) and 64 (AMP), its
#    operations counted at batch 64 and in a training iteration;
# 4. with a CHECKPOINT and INPUT slices: compare_precision.py, float32 against AMP.
# Each step writes OUT_DIR/<step>.log (and .json); a failed step is reported and the
# others still run; the exit status is the number of failed steps. DEVICE (default cuda),
# ROUNDS (1), REPEATS (10) and CASES ("ssm mask-rcnn-r50") change the runs; DEVICE=cpu
# runs the same steps on a CPU (AMP steps left out), as a check of the script itself.
set -u
OUT=${1:?usage: gpu_report.sh OUT_DIR [CHECKPOINT INPUT ...]}
shift
CHECKPOINT=${1:-}
[ $# -gt 0 ] && shift
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
ROUNDS=${ROUNDS:-1}
REPEATS=${REPEATS:-10}
read -r -a CASES <<< "${CASES:-ssm mask-rcnn-r50}"
TOOLS=$(dirname "$0")
mkdir -p "$OUT"
failed=0

step() {  # step NAME COMMAND...: run it, its output to OUT/NAME.log
    local name=$1 start=$SECONDS
    shift
    echo "== $name: $*"
    if "$@" > "$OUT/$name.log" 2>&1; then
        echo "   ok, $((SECONDS - start)) s"
    else
        echo "   FAILED, $((SECONDS - start)) s; the end of $OUT/$name.log:"
        tail -n 8 "$OUT/$name.log" | sed 's/^/   | /'
        failed=$((failed + 1))
    fi
}

"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' | tee "$OUT/device.log"
step cuda_tests "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_models/test_cuda.py
BENCH=("$PYTHON" "$TOOLS/../benchmark.py" --device "$DEVICE" --cases "${CASES[@]}"
       --rounds "$ROUNDS" --repeats "$REPEATS")
step bench_fp32 "${BENCH[@]}" --batch-size 8 64 --train-batch-size 8 \
    --out "$OUT/bench_fp32.json"
[ "$DEVICE" = cuda ] && step bench_amp "${BENCH[@]}" --amp --batch-size 8 64 \
    --train-batch-size 8 --out "$OUT/bench_amp.json"
PROFILE=("$PYTHON" "$TOOLS/profile_inference.py" --device "$DEVICE" --repeats "$REPEATS")
step profile_fp32_b1 "${PROFILE[@]}" --out "$OUT/profile_fp32_b1.json"
step ops_fp32_b64 "${PROFILE[@]}" --count-ops --batch-size 64 --out "$OUT/ops_fp32_b64.json"
step ops_train_b1 "${PROFILE[@]}" --count-ops --train --out "$OUT/ops_train_b1.json"
if [ "$DEVICE" = cuda ]; then
    step profile_amp_b64 "${PROFILE[@]}" --amp --batch-size 64 --out "$OUT/profile_amp_b64.json"
fi
if [ -n "$CHECKPOINT" ]; then
    step compare_precision "$PYTHON" "$TOOLS/compare_precision.py" \
        "$TOOLS/../../configs/ssm/ssm_r18-b3-aug_50e_cncb-covidx.py" "$CHECKPOINT" "$@" \
        --device "$DEVICE" --out "$OUT/compare_precision.json"
fi
echo "$failed failed step(s); logs in $OUT"
exit "$failed"
