"""`iterdeploy bootstrap` and `iterdeploy sample` end to end on a tiny task set (slow: trains a model)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from iterdeploy.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def taskset(tmp_path_factory):
    from iterdeploy.tasks.spec import TaskSetSpec
    from iterdeploy.tasks.taskset import build_taskset

    out = tmp_path_factory.mktemp("tasks") / "set"
    spec = TaskSetSpec.from_dict({"seed": 0, "splits": [
        {"name": "train", "domain": "blocksworld", "sizes": [2, 3], "per_size": 40},
        {"name": "test", "domain": "blocksworld", "sizes": [2, 3, 4], "per_size": 4},
    ]})
    build_taskset(spec, out)
    return out


@pytest.mark.slow
def test_bootstrap_then_sample_and_validate(taskset, tmp_path, capsys):
    model = tmp_path / "gen0"
    assert main(["bootstrap", "--tasks", str(taskset), "--out", str(model), "--max-size", "2", "--steps", "120",
                 "--hidden", "64", "--layers", "2", "--intermediate", "128", "--max-objects", "8",
                 "--vocab-domains", "blocksworld", "--lr", "3e-3", "--renamings", "8"]) == 0
    out = capsys.readouterr().out
    assert "bootstrap: 40 tasks (sizes 2-2)" in out and (model / "model.safetensors").is_file()
    samples = tmp_path / "samples.parquet"
    assert main(["sample", "--model", str(model), "--tasks", str(taskset), "--greedy", "--max-new-tokens", "48",
                 "--validate", "--out", str(samples)]) == 0
    out = capsys.readouterr().out
    assert "blocksworld" in out and "solved" in out
    df = pd.read_parquet(samples)
    assert len(df) == 12 and {"valid", "plan_length", "error", "model_hash"} <= set(df.columns)
    # Trained on size 2 only, the model solves some size-2 tasks.
    assert df[df["task_id"].str.contains("-s02-")]["valid"].any()
