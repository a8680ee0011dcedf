"""Every stage function on a tiny task set and a tiny random base, without DVC: outputs, summaries, the
curation rule, an empty generation, the base checked by hash, inputs checked against dvc.lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from iterdeploy.artifacts import tree_hash  # noqa: E402
from iterdeploy.errors import ConfigError, IterdeployError  # noqa: E402
from iterdeploy.pipeline import dvc  # noqa: E402
from iterdeploy.pipeline.context import make_context  # noqa: E402
from iterdeploy.pipeline.registry import ARTIFACTS, find_stage, pipeline, run_stage  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_embedded_base  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tiny_params(**changes) -> dict:
    p = yaml.safe_load((REPO / "params.yaml").read_text())
    p["tasks"]["splits"] = [
        {"name": "deploy", "domain": "blocksworld", "sizes": [2], "per_size": 3},
        {"name": "deploy", "domain": "ferry", "sizes": [1], "per_size": 2},
        {"name": "test", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
        {"name": "test", "domain": "ferry", "sizes": [1], "per_size": 2},
    ]
    p["model"].update(path="models/base", sha256=None)
    p["sampling"].update(k=2, max_new_tokens=24, batch_size=8)
    p["training"].update(max_steps=2, epochs=1.0, batch_size=4)
    p["evaluation"].update(k=1, max_new_tokens=24, batch_size=8)
    p["generations"] = 2
    p["runtime"]["threads"] = 1
    for key, value in changes.items():
        section, _, field = key.partition(".")
        p[section][field] = value
    return p


def _project(root: Path, **changes) -> Path:
    build_tiny_embedded_base(root / "models" / "base", domains=("blocksworld", "ferry"))
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(**changes)))
    return root


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every stage of two generations, in the registry's order; filter none so that training data exists."""
    root = _project(tmp_path_factory.mktemp("project"), **{"curation.filter": "none"})
    ctx = make_context(root)
    summaries = {"taskset": run_stage(ctx, "taskset", 0)}
    for stage in pipeline(ctx.params):
        summaries[stage.name] = run_stage(ctx, stage.artifact.name, stage.gen)
    return ctx, summaries


def test_every_stage_writes_its_outputs(ran):
    ctx, summaries = ran
    for stage in pipeline(ctx.params):
        for path in stage.all_outs:
            assert ctx.path(path).exists(), (stage.name, path)
        assert summaries[stage.name]["seconds"] >= 0
    assert summaries["taskset"]["by_split"] == {"deploy": 5, "test": 6}
    timings = json.loads(ctx.path(ctx.layout.timings(1)).read_text())
    assert set(timings) == {a.name for a in ARTIFACTS} and all("md5" in t for t in timings.values())


def test_generation_zero_refers_to_the_base_by_hash(ran):
    ctx, summaries = ran
    ref = json.loads(ctx.path(ctx.layout.checkpoint(0) + "/base.json").read_text())
    assert ref == {"path": "models/base", "sha256": tree_hash(ctx.path("models/base"))}
    assert summaries["gen_000-checkpoint"]["model_hash"] == ref["sha256"]
    assert ctx.model_dir(0) == Path("models/base")  # relative: the same bytes in every clone


def test_samples_validated_curated_checkpoint_evaluation(ran):
    ctx, summaries = ran
    lay = ctx.layout
    smp = pd.read_parquet(ctx.path(lay.samples(1)))
    assert len(smp) == 5 * 2 and set(smp["generation"]) == {1}
    assert (smp["model_hash"] == ctx.model_hash(0)).all()
    val = pd.read_parquet(ctx.path(lay.validated(1)))
    assert {"valid", "plan_length", "error", "error_step"} <= set(val.columns) and len(val) == len(smp)
    assert summaries["gen_001-validated_plans"]["samples"] == len(val)
    cur = pd.read_parquet(ctx.path(lay.curated(2)))
    assert summaries["gen_002-curated_dataset"]["rows"] == len(cur) > 0
    card = json.loads(ctx.path(lay.checkpoint(1) + "/model_card.json").read_text())
    assert card["kind"] == "finetune-full" and card["base_model"]["path"] == "models/base"
    assert "wall_time_s" not in card and summaries["gen_001-checkpoint"]["trained"]
    m = json.loads(ctx.path(lay.metrics(2)).read_text())
    assert m["generation"] == 2 and m["tasks"] == 6 and m["curated"] == len(cur)
    assert set(m["by_domain"]) == {"blocksworld", "ferry"}
    assert set(m["monitors"]) == {"distinct_valid_plans_per_task", "length_ratio_to_reference", "token_entropy",
                                  "self_copy_share", "lost_tasks"}
    assert m["monitors"]["token_entropy"] > 0 and "monitors" not in json.loads(ctx.path(lay.metrics(0)).read_text())
    assert (smp["entropy"] > 0).all()
    history = json.loads(ctx.path(lay.history(2)).read_text())
    assert [h["generation"] for h in history] == [0, 1, 2]
    details = json.loads(ctx.path(lay.details(2)).read_text())
    assert "by_domain_size" in details and details["vs_previous"]["previous_generation"] == 1


def test_a_changed_base_is_refused(tmp_path):
    root = _project(tmp_path)
    ctx = make_context(root)
    run_stage(ctx, "taskset", 0)
    run_stage(ctx, "checkpoint", 0)
    weights = root / "models" / "base" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"tampered")
    with pytest.raises(IterdeployError, match="the base model folder changed"):
        run_stage(make_context(root), "evaluation", 0)
    with pytest.raises(IterdeployError, match="missing"):
        weights.unlink()
        (root / "models" / "base").rename(root / "models" / "gone")
        run_stage(make_context(root), "evaluation", 0)


def test_a_pinned_base_hash_is_enforced(tmp_path):
    root = _project(tmp_path, **{"model.sha256": "0" * 64})
    ctx = make_context(root)
    with pytest.raises(IterdeployError, match="model.sha256: the base model folder hashes to"):
        run_stage(ctx, "checkpoint", 0)
    good = tree_hash(root / "models" / "base")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(**{"model.sha256": good})))
    assert run_stage(make_context(root), "checkpoint", 0)["checked"] is True


def test_an_empty_curated_set_carries_the_model_forward(tmp_path):
    """A generation in which no sample is valid is no crash: the next model is the previous one."""
    root = _project(tmp_path)
    ctx = make_context(root)
    run_stage(ctx, "taskset", 0)
    for artifact in ("checkpoint", "evaluation"):
        run_stage(ctx, artifact, 0)
    for artifact in ("samples", "validated_plans", "curated_dataset"):
        run_stage(ctx, artifact, 1)
    lay = ctx.layout
    validated = pd.read_parquet(ctx.path(lay.validated(1)))
    validated.assign(valid=False).to_parquet(ctx.path(lay.validated(1)))  # no valid sample at all
    assert run_stage(ctx, "curated_dataset", 1, verify=False)["rows"] == 0
    summary = run_stage(ctx, "checkpoint", 1)
    assert summary["trained"] is False and summary["model_hash"] == ctx.model_hash(0)
    assert ctx.model_dir(1) == ctx.model_dir(0)
    assert run_stage(ctx, "evaluation", 1)["curated"] == 0


def test_inputs_are_checked_against_dvc_lock(tmp_path):
    """A file swapped behind DVC's back (gen 2's samples for gen 1's) is refused, not trained on."""
    root = _project(tmp_path)
    ctx = make_context(root)
    run_stage(ctx, "taskset", 0)
    run_stage(ctx, "checkpoint", 0)
    run_stage(ctx, "samples", 1)
    samples = ctx.layout.samples(1)
    lock = {"stages": {"gen_001-samples": {"outs": [{"path": samples, "md5": dvc.md5(ctx.path(samples))}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    run_stage(ctx, "validated_plans", 1)  # the recorded file: fine
    df = pd.read_parquet(ctx.path(samples))
    df.iloc[::-1].to_parquet(ctx.path(samples))
    with pytest.raises(IterdeployError, match=r"differs from what dvc.lock \(gen_001-samples\) records"):
        run_stage(ctx, "validated_plans", 1)
    (root / "dvc.lock").write_text("stages: [not, a, mapping]\n")
    with pytest.raises(IterdeployError, match="dvc.lock has no stages mapping"):
        run_stage(ctx, "validated_plans", 1)


def test_stages_outside_the_pipeline_are_config_errors(tmp_path):
    root = _project(tmp_path)
    ctx = make_context(root)
    with pytest.raises(ConfigError, match="not in the pipeline"):
        find_stage(ctx.params, "samples", 0)
    with pytest.raises(ConfigError, match="not in the pipeline"):
        find_stage(ctx.params, "evaluation", 3)
    with pytest.raises(ConfigError, match="unknown stage"):
        find_stage(ctx.params, "report", 1)
    with pytest.raises(IterdeployError, match="missing samples"):
        run_stage(ctx, "validated_plans", 1)


def test_artifacts_get_the_mode_a_plain_open_gives(tmp_path):
    """Temporary files are 0600 (mkstemp); a published artifact is readable like any file written by open()."""
    import os

    from iterdeploy.artifacts import atomic_path, write_bytes

    mask = os.umask(0o022)
    try:
        f = write_bytes(tmp_path / "plot.png", b"png")
        with atomic_path(tmp_path / "folder", directory=True) as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(mask)
    assert f.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
