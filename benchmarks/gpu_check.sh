#!/usr/bin/env bash
# Run the CUDA tests (every test whose name says "cuda") on a machine with an NVIDIA GPU, and
# fail if any of them skips: a skip there means torch cannot see the GPU, not that all is well.
#
#   make test-gpu                      # or: bash benchmarks/gpu_check.sh [extra pytest args]
#
# constraints.txt pins the local CPU-only torch wheel (torch==2.13.0+cpu from /opt/wheels), on
# which every CUDA test skips. On the GPU machine replace it with a CUDA build of the same
# version first, e.g. from PyPI, whose Linux x86_64 wheel is built with CUDA:
#
#   .venv/bin/python -m pip install --force-reinstall --no-deps --no-cache-dir \
#       --no-index --find-links <dir-with-the-cuda-wheel> torch==2.13.0     # offline, or
#   .venv/bin/python -m pip install --force-reinstall --index-url https://pypi.org/simple \
#       torch==2.13.0                                                         # with network
#
# (any CUDA wheel of torch 2.13.0 whose CUDA version the driver supports will do; `nvidia-smi`
# prints the highest CUDA version the driver runs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3

if ! "$PY" - <<'PY'
import sys
import torch
print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
      f"cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0))
sys.exit(0 if torch.cuda.is_available() else 1)
PY
then
    echo "torch cannot use a GPU here: install a CUDA build of torch==2.13.0 (see the top of" \
         "benchmarks/gpu_check.sh) and run again" >&2
    exit 2
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest tests -p no:xdist -q -rs \
    -k cuda "$@" 2>&1 | tee "$log" || status=$?
if grep -qE "[0-9]+ skipped" "$log"; then
    echo "a CUDA test skipped on a machine with a GPU (see the reasons above)" >&2
    exit 1
fi
exit "$status"
