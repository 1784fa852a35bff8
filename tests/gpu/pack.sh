#!/bin/sh
# pack.sh DIR [tiny]: copies what run_gpu_checks.sh needs into DIR (git-ignored, e.g.
# .devcarry) for a device call's `carry`: the CUDA build's latte and test_cuda_ops (xz, they
# are large), the fixture models ds2lite-tiny, ds3-tiny and qwen2-tiny with their JSON and
# reference logits; with `tiny`, only tiny-mla.gguf and the binaries (the 64 MiB carry limit
# does not hold both). Checks first that the binaries need no library the GPU machine lacks.
# The device call copies the checkout of the session that makes it (for helpers: /work/main),
# so DIR goes there, git-ignored (.git/info/exclude); the 64 MiB limit counts that checkout's
# untracked files too. When tiny-mla does not fit with them, carry it in pieces in
# back-to-back calls (the machine keeps /tmp while warm, 30 s) and `cat` them on the device.
set -e
DIR=${1:-.devcarry}
BUILD=${LATTE_CUDA_BUILD:-build-cuda}
SHARED=${LATTE_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
if ldd "$BUILD/latte" "$BUILD/test_cuda_ops" | grep -E 'pcre2|utf8proc|jansson|libedit|cudart'; then
    echo "pack: the binaries link the above dynamically" >&2
    exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR"
xz -T2 -c "$BUILD/latte" > "$DIR/latte.xz"
xz -T2 -c "$BUILD/test_cuda_ops" > "$DIR/test_cuda_ops.xz"
if [ "$2" = tiny ]; then
    cp "$SHARED/models/tiny-mla.gguf" "$DIR/"
else
    for m in ds2lite-tiny ds3-tiny qwen2-tiny; do
        cp "$SHARED/fixtures/$m.gguf" "$SHARED/fixtures/$m.json" "$SHARED/fixtures/$m.logits.f32" "$DIR/"
    done
fi
du -sh "$DIR"
