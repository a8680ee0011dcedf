#!/usr/bin/env bash
# Create .venv with iterdeploy and its test extras. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the local CPU build. Any looser spec pulls gigabytes of CUDA wheels.
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
# Every other package at the version in constraints.txt: same versions, same artifact hashes as dvc.lock.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
# Pipeline: Dagster in .venv (the `pipeline` extra).
.venv/bin/python -m pip install -q -c constraints.txt -e ".[pipeline]"
# Ray (the `ray` extra): sampling and evaluation on a cluster (`executor: ray`); tests run it on a local one.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[ray]"
.venv/bin/python -m pip check
# DVC in its own venv: its hydra-core pins antlr4-python3-runtime 4.9 while Dagster's selection parser
# needs 4.13 (one shared env breaks every Dagster selection string). iterdeploy/dvc.py runs it as a subprocess.
if [ ! -x .venv-dvc/bin/python ]; then
  "$PY" -m venv .venv-dvc
  .venv-dvc/bin/python -m pip install -q --upgrade pip
fi
.venv-dvc/bin/python -m pip install -q "dvc==${DVC_VERSION:-3.67.1}"
.venv-dvc/bin/python -m pip check
# Headless Chromium for the test that renders `dvc plots show` offline (Debian's package; root only).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
    echo "setup: could not install chromium (the offline plots test needs it)" >&2
fi
