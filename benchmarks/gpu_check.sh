#!/usr/bin/env bash
# The GPU check: one call on a machine with a CUDA GPU and PyTorch but neither PyAV nor a
# package registry (the device tool's machines). From the repository root:
#
#   benchmarks/gpu_check.sh                 # on the GPU machine; figures under $OUT
#   benchmarks/gpu_check.sh --device cpu    # dry run here, small sizes (minutes on 2 cores)
#
# It uses the working tree (PYTHONPATH=src), and PyAV from a wheel in .whl/ when the
# machine has none (put it there first, ignored by git: see benchmarks/RESULTS.md, "GPU
# check"). Steps, each logged to $OUT/<step>.log, a failed one reported and the next run:
#   1. the CUDA tests (pytest -m cuda: tests/test_cuda.py) and the device/dtype tests;
#   2. animation in float32, bfloat16 and float16 at batch 1, 8 and 32 (frames per second,
#      peak memory, difference from float32): benchmarks/gpu_check.py;
#   3. a few `tpsmm train --precision bf16` steps of the vox-256 architecture (same file).
# $OUT/gpu-check.md and gpu-check.json hold the figures; the exit status is the number of
# failed steps.
set -u
cd "$(dirname "$0")/.."
DEVICE=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --device=*) DEVICE="${1#--device=}"; shift ;;
        *) echo "usage: $0 [--device cuda|cpu]" >&2; exit 2 ;;
    esac
done
OUT="${OUT:-build/gpu-check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c "import av" 2>/dev/null; then
    wheel=$(ls .whl/av-*.whl 2>/dev/null | head -n 1)
    if [ -z "$wheel" ]; then
        echo "gpu_check: PyAV is missing and .whl/ holds no av wheel" >&2
        exit 2
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu-check-site "$wheel" || exit 2
    export PYTHONPATH="$PYTHONPATH:/tmp/gpu-check-site"
fi
failed=0
step() {  # step NAME COMMAND...: run, log to $OUT/NAME.log, count a failure
    local name="$1"; shift
    echo "== $name: $*"
    local started=$SECONDS
    "$@" 2>&1 | tee "$OUT/$name.log"
    local status=${PIPESTATUS[0]}
    echo "== $name: status $status in $((SECONDS - started)) s"
    [ "$status" -eq 0 ] || failed=$((failed + 1))
}
{ nvidia-smi 2>/dev/null || echo "no nvidia-smi"; "$PY" -c "import torch, av, numpy, PIL
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())
print('av', av.__version__, 'numpy', numpy.__version__, 'Pillow', PIL.__version__)"; } \
    >"$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"
# pytest's cache and the test cache (reference weights) stay out of the tree
export TPSMM_TEST_CACHE="${TPSMM_TEST_CACHE:-/tmp/tpsmm-test-cache}"
step tests "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m "cuda or not slow" \
    tests/test_cuda.py tests/test_runtime.py tests/cli/test_cli_device_dtype.py
if [ "$DEVICE" = cpu ]; then  # the dry run: the same code on small sizes
    step figures "$PY" benchmarks/gpu_check.py --device cpu --out "$OUT" --frames 4 \
        --batch-sizes 1 2 --dtypes float32 bfloat16 --train-steps 1 --train-batch 2 \
        --train-config demo
else
    step figures "$PY" benchmarks/gpu_check.py --device "$DEVICE" --out "$OUT"
fi
echo "gpu_check: $failed failed step(s); figures in $OUT"
exit "$failed"
