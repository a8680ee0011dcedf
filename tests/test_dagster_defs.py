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
    assert len(checks) == 2 * n
    assert ("gen_001/curated_dataset", "follows_curation_rule") in checks
    assert ("gen_001/evaluation", "not_worse_than_previous") in checks
    dg.Definitions.validate_loadable(defs)


def test_chain_across_generations(defs):
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dg.AssetKey(key.split("/"))).parent_keys}

    assert parents("gen_002/samples") == {"taskset", "gen_001/checkpoint"}
    assert parents("gen_002/validated_plans") == {"taskset", "gen_000/checkpoint", "gen_002/samples"}
    assert parents("gen_002/curated_dataset") == {"gen_002/validated_plans", "gen_001/curated_dataset"}
    assert parents("gen_002/checkpoint") == {"taskset", "gen_002/curated_dataset", "gen_000/checkpoint",
                                             "gen_001/checkpoint"}
    assert parents("gen_002/evaluation") == {"taskset", "gen_000/checkpoint", "gen_002/checkpoint",
                                             "gen_002/validated_plans", "gen_002/curated_dataset",
                                             "gen_001/curated_dataset", "gen_001/evaluation"}
    assert parents("gen_001/samples") == {"taskset", "gen_000/checkpoint"}


def test_same_wiring_as_dvc_yaml(defs, params):
    """Every dvc.yaml stage is an asset whose upstream assets produce exactly the stage's deps."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    graph = defs.resolve_asset_graph()
    producer = {o: s.name for s in pipeline(params) for o in s.all_outs}
    assert len(stages) == len(pipeline(params))
    for name, body in stages.items():
        gen, _, artifact = name.partition("-")
        node = graph.get(dg.AssetKey([gen, artifact]))
        parents = {"-".join(k.path) if len(k.path) == 2 else k.path[0] for k in node.parent_keys}
        want = {producer.get(d, "taskset") for d in body.get("deps", [])}
        assert parents == want, name


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
