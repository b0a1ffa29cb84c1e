#!/usr/bin/env bash
# Creates (or refreshes) the project-local Python environment .venv from python/requirements.txt with the
# exact versions in python/constraints.txt. Idempotent: a stamp holds the hash of both files, so a second run
# with unchanged pins returns at once. Prints the venv's python path on stdout as its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MRAG_VENV:-$root/.venv}"
req="$root/python/requirements.txt"
con="$root/python/constraints.txt"
py="${PYTHON:-python3}"

if ! command -v "$py" >/dev/null 2>&1; then
  echo "python-env: no $py on PATH (the live Milvus Lite and Python client tests need Python >= 3.10 with pip)" >&2
  exit 3
fi
# Test files start Milvus Lite in parallel workers: one installer at a time, the others wait and reuse its venv.
mkdir -p "$venv"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$venv/.mrag-lock"
  flock 9
fi
want=$(cat "$req" "$con" | sha256sum | cut -d' ' -f1)
stamp="$venv/.mrag-stamp"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
echo "python-env: installing $(grep -cv '^#' "$req") pinned packages into $venv" >&2
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req" -c "$con" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
