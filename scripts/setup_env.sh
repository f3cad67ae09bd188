#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install neuralkg-distil into it.
#   bash scripts/setup_env.sh          runtime packages
#   bash scripts/setup_env.sh --dev    plus the test tools
# The venv sees system packages, so a torch you already have (e.g. a CUDA build) is reused:
# torch is installed only when none is importable, as $TORCH_SPEC (default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
if [ -z "${VIRTUAL_ENV:-}" ] || [ "$VIRTUAL_ENV" != "$(pwd)/$VENV" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
fi
VPY="$VENV/bin/python"
pip() { "$VPY" -m pip --disable-pip-version-check "$@"; }
stamp="$VENV/.neuralkg-distil-installed"
want="$(cat requirements.txt requirements-dev.txt setup.py | sha256sum | cut -c1-16)${1:-}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: no torch found; installing ${TORCH_SPEC:-torch==2.13.0}"
  pip install -q "${TORCH_SPEC:-torch==2.13.0}"
else
  echo "setup: using the installed torch $("$VPY" -c 'import torch; print(torch.__version__)')"
fi
if [ "${1:-}" = "--dev" ]; then req=requirements-dev.txt; else req=requirements.txt; fi
pip install -q -r "$req"
pip install -q --no-deps neuralkg==1.0.21
pip install -q --no-deps -e .
echo "$want" > "$stamp"
echo "setup: ready ($VENV)"
