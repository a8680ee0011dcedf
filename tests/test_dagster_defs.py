"""The Dagster code location loads: five assets per generation, the task set and generation 0, checks,
and the same wiring as dvc.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # dagster_project/ is a code location beside the package, not installed
    sys.path.insert(0, str(REPO))

dg = pytest.importorskip("dagster")

from iterdeploy.pipeline.params import load_params  # noqa: E402
from iterdeploy.pipeline.registry import ARTIFACTS, pipeline  # noqa: E402

NAMES = [a.name for a in ARTIFACTS]


@pytest.fixture(scope="module")
def defs():
    from dagster_project.definitions import defs

    return defs


@pytest.fixture(scope="module")
def params():
    return load_params(REPO / "params.yaml")


def _keys(defs) -> set[str]:
    return {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}


def test_definitions_load(defs, params):
    keys = _keys(defs)
    n = len(params.gens)
    assert len(keys) == 3 + 5 * n
    assert {"taskset", "gen_000/checkpoint", "gen_000/evaluation"} <= keys
    for g in params.gens:
        assert {f"gen_{g:03d}/{a}" for a in NAMES} <= keys
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert len(checks) == 6 * n
    assert ("gen_001/curated_dataset", "follows_curation_rule") in checks
    assert ("gen_001/evaluation", "not_worse_than_previous") in checks
    for alarm in ("distinct_plans", "entropy", "lost_tasks", "self_copy"):
        assert (f"gen_{n:03d}/evaluation", f"monitor_{alarm}") in checks
    dg.Definitions.validate_loadable(defs)


def _parents(graph, key: str) -> set[str]:
    return {k.to_user_string() for k in graph.get(dg.AssetKey(key.split("/"))).parent_keys}


def test_chain_across_generations(defs, params):
    """One chain per generation: the task set and the base model are drawn into the first stage of each
    generation that reads them (samples; validated_plans for the base from generation 2 on) only."""
    graph = defs.resolve_asset_graph()
    assert _parents(graph, "gen_000/checkpoint") == set()
    assert _parents(graph, "gen_000/evaluation") == {"taskset", "gen_000/checkpoint"}
    assert _parents(graph, "gen_001/samples") == {"taskset", "gen_000/checkpoint"}
    assert _parents(graph, "gen_001/validated_plans") == {"gen_001/samples"}
    assert _parents(graph, "gen_002/samples") == {"taskset", "gen_001/checkpoint"}
    assert _parents(graph, "gen_002/validated_plans") == {"gen_000/checkpoint", "gen_002/samples"}
    assert _parents(graph, "gen_002/curated_dataset") == {"gen_002/validated_plans", "gen_001/curated_dataset"}
    assert _parents(graph, "gen_002/checkpoint") == {"gen_002/curated_dataset", "gen_001/checkpoint"}
    assert _parents(graph, "gen_002/evaluation") == {"gen_002/checkpoint", "gen_002/validated_plans",
                                                     "gen_002/curated_dataset", "gen_001/curated_dataset",
                                                     "gen_001/evaluation"}
    # the task set feeds one stage per generation, plus generation 0's evaluation
    children = {k.to_user_string() for k in graph.get(dg.AssetKey(["taskset"])).child_keys}
    assert children == {"gen_000/evaluation"} | {f"gen_{g:03d}/samples" for g in params.gens}
    base = {k.to_user_string() for k in graph.get(dg.AssetKey(["gen_000", "checkpoint"])).child_keys}
    assert base == {"gen_000/evaluation", "gen_001/samples"} | {f"gen_{g:03d}/validated_plans" for g in params.gens[1:]}


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    seen, todo = set(), [key]
    while todo:
        for p in graph.get(todo.pop()).parent_keys:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def test_same_wiring_as_dvc_yaml(defs, params):
    """Every dvc.yaml stage is an asset, and its upstream assets are the producers of the stage's deps, with one
    exception, checked exactly: a shared input (the task set, generation 0's checkpoint) is not drawn into a stage
    that reads another artifact of its own generation which itself reads that input, directly or through that
    generation. Such a stage still has the shared input among its ancestors in Dagster's graph."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    graph = defs.resolve_asset_graph()
    producer = {o: s.name for s in pipeline(params) for o in s.all_outs}
    assert len(stages) == len(pipeline(params))
    shared = ("taskset", "gen_000-checkpoint")
    reads = {name: {producer.get(d, "taskset") for d in body.get("deps", [])} for name, body in stages.items()}
    dropped = 0
    for name in stages:  # dvc.yaml lists stages in dependency order
        gen, _, artifact = name.partition("-")
        key = dg.AssetKey([gen, artifact])
        parents = {"-".join(k.path) if len(k.path) == 2 else k.path[0] for k in graph.get(key).parent_keys}
        want = set(reads[name])
        for x in shared:
            def via_generation(stage, x=x, gen=gen):
                same = [u for u in reads[stage] if u.startswith(gen + "-") and u != x]
                return any(x in reads[u] or via_generation(u) for u in same)
            if x in want and via_generation(name):
                want.discard(x)
                dropped += 1
                x_key = dg.AssetKey([x]) if x == "taskset" else dg.AssetKey(x.split("-"))
                assert x_key in _ancestors(graph, key), (name, x)
        assert parents == want, name
    assert dropped >= 3 * len(params.gens)  # at least the task-set edges of each generation's later readers


def test_selection_strings_parse(defs):
    """Dagster's selection grammar needs antlr4 4.13; DVC (4.9) must stay in its own venv."""
    graph = defs.resolve_asset_graph()
    selected = dg.AssetSelection.from_string('key:"gen_001/*"').resolve(graph)
    assert {k.to_user_string() for k in selected} == {f"gen_001/{a}" for a in NAMES}
    assert len(dg.AssetSelection.from_string("group:gen_002").resolve(graph)) == 5


def test_resource_and_executor(defs):
    from dagster_project.defs.resources import IterdeployResource

    res = defs.resources["iterdeploy"]
    assert isinstance(res, IterdeployResource)
    assert Path(res.project_dir).resolve() == REPO
    assert res.threads is None and res.dvc_commit is True


def test_build_for_other_project(tmp_path):
    from dagster_project.definitions import build_definitions

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["generations"] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    other = build_definitions(tmp_path, threads=2)
    assert len(_keys(other)) == 8
    assert other.resources["iterdeploy"].threads == 2
