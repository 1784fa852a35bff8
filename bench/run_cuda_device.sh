#!/bin/sh
# run_cuda_device.sh: what one call of the lent GPU machine runs, from a folder holding the
# binaries `make CUDA=1` built here (test_cuda_ops, bench_cuda_decode) and this script:
# the op tests, the decode benchmark, then the op tests again under compute-sanitizer
# (memcheck) when it is there. Logs go to $OUT when set.
# Use: mkdir -p ../main/.devcarry && cp build-cuda/test_cuda_ops build-cuda/bench_cuda_decode \
#      bench/run_cuda_device.sh ../main/.devcarry/ ; then run `cd .devcarry && sh run_cuda_device.sh`
#      with carry [".devcarry"] (device calls send the main checkout).
cd "$(dirname "$0")" || exit 1
OUT=${OUT:-.}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,memory.used --format=csv,noheader
./test_cuda_ops 2>&1 | tee "$OUT/test.log" | grep -v '^PASS'
echo "test: $(grep -c '^PASS' "$OUT/test.log") passed, $(grep -c '^FAIL' "$OUT/test.log") failed"
[ "$1" = test ] && exit 0
./bench_cuda_decode 2>&1 | tee "$OUT/bench.log"
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$CS" ] && [ "$1" != nosan ]; then
    timeout 240 "$CS" --tool memcheck --print-limit 20 ./test_cuda_ops > "$OUT/memcheck.log" 2>&1
    echo "memcheck rc=$?: $(grep -c '^PASS' "$OUT/memcheck.log") passed, $(grep -c '^FAIL' "$OUT/memcheck.log") failed"
    grep -E "ERROR SUMMARY|Invalid|out of bounds" "$OUT/memcheck.log" | head -20
fi
