"""`iterdeploy pretrain` and `iterdeploy sample` end to end on a tiny budget: the loss falls, the model card
has what it promises, the same params give the same weights, no deploy or test task is ever drawn."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from iterdeploy.errors import ConfigError
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from iterdeploy.cli import main  # noqa: E402
from iterdeploy.config import build, to_dict  # noqa: E402
from iterdeploy.model.stream import DomainRange, TaskStream  # noqa: E402
from iterdeploy.model.tokenizer import build_tokenizer  # noqa: E402
from iterdeploy.pipeline.pretrain import EXCLUDED, PretrainParams  # noqa: E402
from iterdeploy.prompts.compact import CompactFormat  # noqa: E402
from iterdeploy.tasks.spec import TaskSetSpec  # noqa: E402
from iterdeploy.tasks.taskset import build_taskset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def tiny_pretrain_params() -> dict:
    data = yaml.safe_load((REPO / "pretrain" / "params.yaml").read_text())
    data["model"].update(hidden=32, layers=2, heads=2, intermediate=64, max_objects=8, domains=["blocksworld"])
    data["stream"]["domains"] = [{"domain": "blocksworld", "min_size": 2, "max_size": 3, "weight": 1.0,
                                  "size_decay": 1.0}]
    data["optimizer"].update(steps=300, batch_size=16, warmup_steps=20, log_every=50, window=4)
    data["transfer"].update(extra_sizes=1, per_size=2, k=2, max_new_tokens=40)
    data["runtime"]["threads"] = 1
    data["out"] = "models/tiny"
    return data


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    spec = build(TaskSetSpec, {"seed": 0, "planner": "naive", "splits": [
        {"name": "deploy", "domain": "blocksworld", "sizes": [2, 3], "per_size": 3},
        {"name": "test", "domain": "blocksworld", "sizes": [2, 3, 4], "per_size": 3}]})
    build_taskset(spec, root / "data" / "tasks")
    (root / "pretrain").mkdir()
    (root / "pretrain" / "params.yaml").write_text(yaml.safe_dump(tiny_pretrain_params()))
    return root


def test_the_stream_never_draws_an_excluded_task(project):
    manifest = pd.read_parquet(project / "data" / "tasks" / "manifest.parquet")
    exclude = frozenset(manifest["content_hash"])
    fmt = CompactFormat.for_tokenizer(build_tokenizer(["blocksworld"], 8))
    stream = TaskStream([DomainRange("blocksworld", 2, 3)], fmt, seed=0, exclude=exclude)
    examples = [e for e, _ in zip(stream, range(300))]
    assert stream.excluded > 0  # 2- and 3-block tasks repeat: the exclusion is exercised
    assert not {e.task_hash for e in examples} & exclude
    # fresh tasks and fresh renamings: many distinct prompts even at two sizes
    assert len({e.prompt for e in examples}) > 250
    again = TaskStream([DomainRange("blocksworld", 2, 3)], fmt, seed=0, exclude=exclude)
    assert [e for e, _ in zip(again, range(300))] == examples  # a pure function of the seed


def test_a_size_decay_draws_large_tasks_rarely_and_uniform_stays_as_it_was():
    from collections import Counter

    fmt = CompactFormat.for_tokenizer(build_tokenizer(["blocksworld"], 12))
    tail = TaskStream([DomainRange("blocksworld", 2, 6, size_decay=0.5)], fmt, seed=0)
    counts = Counter(e.size for e, _ in zip(tail, range(600)))
    assert set(counts) == {2, 3, 4, 5, 6}
    assert counts[2] > counts[3] > counts[4] > counts[6]
    assert 0.35 < counts[3] / counts[2] < 0.7  # about size_decay
    uniform = TaskStream([DomainRange("blocksworld", 2, 6)], fmt, seed=0)
    assert max(Counter(e.size for e, _ in zip(uniform, range(600))).values()) < 160
    with pytest.raises(ConfigError):
        build(DomainRange, {"domain": "blocksworld", "min_size": 2, "max_size": 6, "size_decay": 0.0})


def test_pretrain_refuses_a_stream_beyond_the_name_pool_before_training(project, capsys):
    """A stream size whose tasks have more objects than the model has names fails at once, naming the field."""
    params = tiny_pretrain_params()
    params["stream"]["domains"][0]["max_size"] = 9  # 9 blocks, 8 names
    (project / "pretrain" / "too_big.yaml").write_text(yaml.safe_dump(params))
    assert main(["pretrain", "--root", str(project), "--params", "pretrain/too_big.yaml"]) == 2
    captured = capsys.readouterr()
    assert "stream.domains: blocksworld size 9 has 9 objects" in captured.err and "pretrain step" not in captured.out


def test_the_transfer_curve_leaves_out_sizes_beyond_the_name_pool():
    from iterdeploy.model.transfer import transfer_tasks
    from iterdeploy.pipeline.pretrain import measurable

    kept, dropped = measurable(transfer_tasks({"blocksworld": [7, 8, 9, 10]}, 2, 0), 8)
    assert {t.size for t in kept} == {7, 8} and len(kept) == 4
    assert dropped == ["blocksworld 9", "blocksworld 10"]


@pytest.mark.slow
def test_pretrain_then_sample_and_validate(project, capsys):
    assert main(["pretrain", "--root", str(project)]) == 0
    out = capsys.readouterr().out
    model = project / "models" / "tiny"
    assert "sha256" in out and (model / "model.safetensors").is_file()
    card = json.loads((model / "model_card.json").read_text())
    losses = [p["loss"] for p in card["loss_curve"]]
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0]
    assert card["params"] == to_dict(build(PretrainParams, tiny_pretrain_params(), complete=True))
    assert card["stream"]["examples"] == 300 * 16 and card["train_tokens"] > 0
    assert {(r["domain"], r["size"]) for r in card["transfer"]} == {("blocksworld", s) for s in (2, 3, 4)}
    assert card["wall_time_s"]["train"] > 0 and "commit" in card
    excluded = (model / EXCLUDED).read_text().split()
    manifest = pd.read_parquet(project / "data" / "tasks" / "manifest.parquet")
    assert excluded == sorted(set(manifest["content_hash"]))
    # The same params give the same weights (byte-identical on CPU with a fixed thread count).
    first = (model / "model.safetensors").read_bytes()
    assert main(["pretrain", "--root", str(project)]) == 0
    assert (model / "model.safetensors").read_bytes() == first
    capsys.readouterr()
    # The model folder is a base like any other: `iterdeploy sample` reads it with the loop's settings.
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tasks"]["splits"] = [{"name": "deploy", "domain": "blocksworld", "sizes": [2, 3], "per_size": 3},
                                 {"name": "test", "domain": "blocksworld", "sizes": [2, 3, 4], "per_size": 3}]
    params["model"].update(path="models/tiny", sha256=None)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    samples = project / "samples.parquet"
    assert main(["sample", "--root", str(project), "--split", "test", "--sampling.k", "1",
                 "--sampling.temperature", "0", "--sampling.max_new_tokens", "48", "--validate",
                 "--out", str(samples)]) == 0
    out = capsys.readouterr().out
    assert "blocksworld" in out and "solved" in out
    df = pd.read_parquet(samples)
    assert len(df) == 9 and {"valid", "plan_length", "error", "model_hash"} <= set(df.columns)
    # it has learned the format: completions stop at 'end', and their steps are the domain's actions
    assert (df["finish_reason"] == "stop").mean() >= 0.8
    assert df["error"].isin(["unknown_action", "wrong_arity"]).mean() <= 0.2  # a tiny model: 300 steps


def test_position_gaps_keep_local_order_and_vary_distances():
    import random

    from iterdeploy.model.data import CompletionCollator
    from iterdeploy.model.pretrain_loop import gapped_positions, unit_starts

    tok = build_tokenizer(["blocksworld"], 8)
    text = "blocksworld init arm-empty clear object1 on object1 object2 goal on object2 object1 plan"
    ids = tok(text)["input_ids"]
    words = text.split()
    starts = unit_starts(tok)
    assert {tok.convert_ids_to_tokens(i) for i in starts} >= {"on", "clear", "init", "plan", ";", "end"}
    assert not any(tok.convert_ids_to_tokens(i).startswith("object") for i in starts)
    pos = gapped_positions(ids, starts, 4, random.Random(0))
    assert pos == sorted(set(pos))  # strictly increasing
    for i, w in enumerate(words[1:], start=1):  # an object name follows its predicate at the next position
        if w.startswith("object"):
            assert pos[i] == pos[i - 1] + 1
    assert pos[-1] > len(ids) - 1  # some gap was drawn
    assert gapped_positions(ids, starts, 0, random.Random(0)) == list(range(len(ids)))
    batch = CompletionCollator(0)([{"input_ids": ids, "labels": ids, "position_ids": pos},
                                   {"input_ids": ids[:3], "labels": ids[:3], "position_ids": pos[:3]}])
    assert batch["position_ids"][0].tolist() == pos
    assert batch["position_ids"][1, :3].tolist() == pos[:3]
