#!/bin/sh
# run_gpu_checks.sh: everything the GPU machine runs in one call, from a folder DIR that holds
# the CUDA build's binaries (latte, test_cuda_ops), the fixtures it needs and tiny-mla.gguf:
#   tests/gpu/pack.sh DIR           (here: copies them into DIR, e.g. .devcarry, git-ignored)
#   sh tests/gpu/run_gpu_checks.sh DIR [ops|fixtures|tiny]   (on the GPU machine, carry DIR)
# The op tests (test_cuda_ops), then tests/gpu/gpu_checks.py: every fixture x MLA mode x FA on
# the GPU against the CPU and the reference, hybrid -ot exps=CPU, then tiny-mla logits and
# bench. Logs go to $OUT when set. Without a GPU everything says SKIP.
DIR=${1:-.devcarry}
WHAT=${2:-all}
OUT=${OUT:-$DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
for f in "$DIR"/*.xz; do # python's lzma: the GPU machine may lack xz
    [ -e "$f" ] && python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" "$f" "${f%.xz}"
done
chmod +x "$DIR/latte" "$DIR/test_cuda_ops" 2>/dev/null
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
if [ "$WHAT" = all ] || [ "$WHAT" = ops ]; then
    "$DIR/test_cuda_ops" > "$OUT/test_cuda_ops.log" 2>&1
    echo "test_cuda_ops rc=$?: $(grep -c '^PASS' "$OUT/test_cuda_ops.log") passed, $(grep -c '^FAIL' "$OUT/test_cuda_ops.log") failed"
    grep -E '^(FAIL|SKIP)' "$OUT/test_cuda_ops.log" | head -20
fi
ONLY=
[ "$WHAT" = fixtures ] && ONLY="--only fixtures"
[ "$WHAT" = tiny ] && ONLY="--only tiny"
[ "$WHAT" = ops ] && exit 0
python3 "$HERE/gpu_checks.py" --latte "$DIR/latte" --fixtures "$DIR" --tiny-mla "$DIR/tiny-mla.gguf" $ONLY 2>&1 |
    tee "$OUT/gpu_checks.log"
