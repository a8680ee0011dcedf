"""A preset params file (experiments/*.yaml) as a DVC experiment, the way docs/paper.md says:
`iterdeploy run --params experiments/X.yaml --repin --exp X` (dvc.yaml for that file, its task set pinned,
`dvc exp run -n X`), then a variant with `dvc exp run -S experiments/X.yaml:key=value`. A tiny embedded base
stands in for the preset's model. Slow (DVC runs every stage as a process): marked `slow`, run in CI too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _iterdeploy(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "iterdeploy", *args], cwd=root, env=env, text=True,
                          capture_output=True, timeout=600)


def test_a_preset_runs_as_a_dvc_experiment(tmp_path):
    from iterdeploy.pipeline import dvc
    from iterdeploy.testing.tiny_models import build_tiny_embedded_base

    root = tmp_path / "project"
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld",))
    preset = yaml.safe_load((REPO / "params.yaml").read_text())  # the shipped default, made tiny
    preset["tasks"]["splits"] = [{"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 2},
                                 {"name": "test", "domain": "blocksworld", "sizes": [3], "per_size": 2}]
    preset["model"].update(path="models/base", sha256=None)
    preset["sampling"].update(k=2, max_new_tokens=16, batch_size=8)
    preset["curation"]["filter"] = "none"  # an untrained model's plans still make training data
    preset["training"].update(max_steps=1, batch_size=4)
    preset["evaluation"].update(k=1, max_new_tokens=16, batch_size=8)
    preset["runtime"]["threads"] = 1
    preset["generations"] = 1
    (root / "experiments").mkdir()
    (root / "experiments" / "tiny.yaml").write_text(yaml.safe_dump(preset, sort_keys=False))
    (root / ".gitignore").write_text("/runs/\n/data/\n")
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "ci@example.invalid")
    _git(root, "config", "user.name", "ci")
    dvc.init_repo(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "preset")

    proc = _iterdeploy(root, "run", "--params", "experiments/tiny.yaml", "--repin", "--exp", "tiny")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "dvc exp run -n tiny" in out and "Running stage 'gen_001-evaluation'" in out
    stage = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["gen_001-samples"]
    assert stage["cmd"].endswith("--params experiments/tiny.yaml")
    shown = dvc.run(["exp", "show", "--json"], cwd=root).stdout
    assert '"tiny"' in shown and "runs/gen_001/metrics.json" in shown and "experiments/tiny.yaml" in shown

    # a variant of the preset: only what the parameter changes re-runs
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "tiny, pinned")
    proc = dvc.run(["exp", "run", "-n", "tiny-first", "-S", "experiments/tiny.yaml:curation.per_task=first"],
                   cwd=root, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Stage 'gen_001-samples' didn't change, skipping" in out
    assert "Running stage 'gen_001-curated_dataset'" in out
    shown = json.loads(dvc.run(["exp", "show", "--json"], cwd=root).stdout)
    names = json.dumps(shown)
    assert '"tiny-first"' in names and '"per_task": "first"' in names
