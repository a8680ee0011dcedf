"""Lineage on a hand-made project: chain hashes from dvc.lock, files checked against them, broken links,
one task's training plans."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from iterdeploy import curation
from iterdeploy.cli import main
from iterdeploy.config import build, set_dotted, to_dict
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.layout import Layout, stage_name
from iterdeploy.pipeline.lineage import format_pipeline, format_task, pipeline_lineage, task_lineage
from iterdeploy.pipeline.params import LoopParams
from iterdeploy.pipeline.registry import ARTIFACTS, pipeline

REPO = Path(__file__).resolve().parents[1]
TASKS = {"seed": 0, "planner": "naive", "splits": [
    {"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 2},
    {"name": "test", "domain": "blocksworld", "sizes": [3], "per_size": 1}]}


def _validated(gen: int, rows) -> pd.DataFrame:
    return pd.DataFrame([{
        "task_id": t, "domain": "blocksworld", "size": 3, "generation": gen, "sample_index": i,
        "sample_id": f"gen_{gen:03d}/{t}/{i}", "model_hash": f"hash{gen - 1}", "plan": "(a)\n" * n,
        "plan_length": n, "valid": v, "error": None if v else "goal", "completion": "",
    } for t, i, n, v in rows])


@pytest.fixture
def project(tmp_path: Path):
    """Files of a 2-generation run and a dvc.lock as DVC would write it (the files' real md5s)."""
    data = set_dotted(set_dotted(yaml.safe_load((REPO / "params.yaml").read_text()), "tasks", TASKS),
                      "generations", 2)
    params = build(LoopParams, data)
    lay = Layout.of(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(to_dict(params)))
    tasks = tmp_path / "data" / "tasks"
    tasks.mkdir(parents=True)
    pd.DataFrame([{"task_id": t, "domain": "blocksworld", "split": s, "size": 3, "reference_length": 4}
                  for t, s in [("bw-d1", "deploy"), ("bw-d2", "deploy"), ("bw-t1", "test")]]
                 ).to_parquet(tasks / "manifest.parquet")
    v1 = _validated(1, [("bw-d1", 0, 6, True), ("bw-d1", 1, 2, False), ("bw-d2", 0, 3, False)])
    v2 = _validated(2, [("bw-d1", 0, 4, True), ("bw-d2", 0, 5, True)])
    c1 = curation.curate(v1, None, generation=1)
    c2 = curation.curate(v2, c1, generation=2)
    for g, v, c in ((1, v1, c1), (2, v2, c2)):
        (tmp_path / lay.gen_dir(g)).mkdir(parents=True)
        v.to_parquet(tmp_path / lay.samples(g))
        v.to_parquet(tmp_path / lay.validated(g))
        c.to_parquet(tmp_path / lay.curated(g))
    for g, solved in ((0, False), (1, False), (2, True)):
        (tmp_path / lay.checkpoint(g)).mkdir(parents=True)
        (tmp_path / lay.checkpoint(g) / "model.safetensors").write_text(f"weights {g}")
        pd.DataFrame([{"task_id": "bw-t1", "mode": "greedy", "sample_index": 0, "valid": solved}]
                     ).to_parquet(tmp_path / lay.evaluation(g))
        (tmp_path / lay.metrics(g)).write_text(json.dumps({"solved": int(solved), "tasks": 1}))
        for f in (lay.details(g), lay.history(g)):
            (tmp_path / f).write_text("[]")
        (tmp_path / lay.progress(g)).write_bytes(b"png")
    made = {o: dvc.md5(tmp_path / o) for s in pipeline(params) for o in s.all_outs}
    stages = {}
    for s in pipeline(params):
        stages[s.name] = {
            "cmd": s.cmd,
            "deps": [{"path": d, "md5": made.get(d, "feed.dir")} for d in s.deps],
            "outs": [{"path": o, "md5": made[o]} for o in s.all_outs],
        }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    (tmp_path / "data.dvc").write_text(yaml.safe_dump({"outs": [{"md5": dvc.md5(tmp_path / "data"), "path": "data"}]}))
    return tmp_path, params


def test_stage_names():
    assert stage_name(3, "curated_dataset") == "gen_003-curated_dataset"


def test_chain_per_generation(project):
    root, params = project
    lin = pipeline_lineage(root, params)
    assert [e["gen"] for e in lin["generations"]] == [0, 1, 2]
    g2 = lin["generations"][2]
    assert [(n["gen"], n["artifact"]) for n in g2["chain"]] == [(1, "checkpoint")] + [(2, a.name) for a in ARTIFACTS]
    assert g2["chain"][1]["md5"] == dvc.md5(root / "runs/gen_002/samples.parquet")
    assert all(n["exists"] and n["in_lock"] and n["verified"] for e in lin["generations"] for n in e["chain"])
    assert lin["complete"] and lin["inconsistent_links"] == []
    assert lin["taskset"]["md5"] == dvc.md5(root / "data") and lin["taskset"]["verified"]
    assert g2["curated"] == {"rows": 2, "tasks": 2, "by_origin_generation": {"2": 2}}  # gen 2 found shorter
    text = format_pipeline(lin)
    assert "generation 2:" in text and "checkpoint(1)[" in text and "-> samples[" in text
    assert "complete: every artifact is on disk as dvc.lock records it" in text


def test_a_file_changed_behind_dvcs_back_makes_it_incomplete(project):
    """A forged evaluation (or samples swapped between generations) no longer matches dvc.lock."""
    root, params = project
    lay = Layout.of(params)
    (root / lay.evaluation(1)).write_bytes((root / lay.evaluation(2)).read_bytes())
    lin = pipeline_lineage(root, params)
    node = next(n for n in lin["generations"][1]["chain"] if n["artifact"] == "evaluation")
    assert not node["verified"] and not lin["complete"]
    assert "evaluation[" in format_pipeline(lin) and "CHANGED (differs from dvc.lock)" in format_pipeline(lin)


def test_inconsistent_link_is_reported(project):
    root, params = project
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    # samples(2) recorded a different checkpoint(1) than the one checkpoint(1) recorded making
    lock["stages"]["gen_002-samples"]["deps"][1]["md5"] = "0" * 32
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    lin = pipeline_lineage(root, params)
    assert lin["inconsistent_links"] == [{"stage": "gen_002-samples", "dep": "runs/gen_001/checkpoint",
                                          "recorded": "0" * 32, "current": dvc.md5(root / "runs/gen_001/checkpoint")}]
    assert "inconsistent" in format_pipeline(lin)


def test_missing_stage_makes_it_incomplete(project):
    root, params = project
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    del lock["stages"]["gen_002-checkpoint"]
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    lin = pipeline_lineage(root, params)
    assert not lin["complete"]
    assert "(not in dvc.lock)" in format_pipeline(lin)


def test_task_first_solved_and_training_plans(project):
    root, params = project
    info = task_lineage(root, params, "bw-d1")
    assert info["split"] == "deploy"
    assert info["first_solved"] == {"gen": 1, "by": "deployment sample", "sample_id": "gen_001/bw-d1/0"}
    # gen 1 trained on its own 6-step plan; gen 2 on the shorter 4-step plan found in gen 2
    assert [(p["trained_generation"], p["origin_sample_id"], p["plan_length"]) for p in info["training_plans"]] == [
        (1, "gen_001/bw-d1/0", 6), (2, "gen_002/bw-d1/0", 4)]
    assert info["training_plans"][0]["origin_model_hash"] == "hash0"
    d2 = task_lineage(root, params, "bw-d2")
    assert d2["first_solved"]["gen"] == 2
    t1 = task_lineage(root, params, "bw-t1")
    assert t1["first_solved"] == {"gen": 2, "by": "evaluation"} and t1["training_plans"] == []
    text = format_task(info)
    assert "first solved: generation 1" in text and "gen 2 <- gen_002/bw-d1/0" in text
    with pytest.raises(IterdeployError, match="not in the task set"):
        task_lineage(root, params, "nope")
    assert "sha256" in text  # the hash vocabulary is labelled


def test_cli(project, capsys):
    root, _ = project
    assert main(["lineage", "--root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["complete"] is True
    assert main(["lineage", "--root", str(root), "--task", "bw-d2"]) == 0
    assert "first solved: generation 2" in capsys.readouterr().out
    assert main(["lineage", "--root", str(root), "--task", "missing"]) == 2
    assert "not in the task set" in capsys.readouterr().err
