"""params.yaml into typed configs: defaults, overrides, and one-line errors naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from iterdeploy.config import Params, describe, load_params, params_from_dict, set_dotted
from iterdeploy.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_checked_in_params_load():
    from iterdeploy.stages import load_config

    params = load_config(REPO / "params.yaml")
    assert params.gens == list(range(1, len(params.generations) + 1))
    assert len(params.gens) >= 3
    assert params.curation.filter == "valid" and params.curation.per_task == "shortest"
    assert params.curation.accumulate is True
    # the README's main command runs on a 2-core CPU with no accelerator
    assert params.device == "cpu" and 1 <= params.threads <= 2


def test_defaults_and_types():
    p = params_from_dict({"generations": [{"gen": 1, "prev": 0}], "training": {"lr": "1e-3"}})
    assert isinstance(p, Params)
    assert p.training.lr == 0.001
    assert p.sampling.k == 4
    assert p.gens == [1]


def test_bad_choice_names_key_and_file(tmp_path):
    path = _write(tmp_path, {"curation": {"per_task": "longest"}})
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value) == f"{path}: curation.per_task: 'longest' is not one of shortest|first|random|all"


def test_relative_path_in_message(tmp_path, monkeypatch):
    _write(tmp_path, {"curation": {"per_task": "longest"}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as exc:
        load_params("params.yaml")
    assert str(exc.value) == "params.yaml: curation.per_task: 'longest' is not one of shortest|first|random|all"


@pytest.mark.parametrize("data, message", [
    ({"curation": {"perTask": "first"}}, "curation.perTask: unknown key"),
    ({"bogus": 1}, "bogus: unknown key"),
    ({"sampling": {"k": 0}}, "sampling.k: must be >= 1, got 0"),
    ({"sampling": {"k": 2.5}}, "sampling.k: must be an integer, got 2.5"),
    ({"sampling": {"top_p": 1.5}}, "sampling.top_p: must be <= 1, got 1.5"),
    ({"curation": {"accumulate": "yes"}}, "curation.accumulate: must be true or false, got 'yes'"),
    ({"curation": {"filter": "some"}}, "curation.filter: 'some' is not one of valid|none"),
    ({"training": {"method": "qlora"}}, "training.method: 'qlora' is not one of lora|full"),
    ({"training": {"init_from": "scratch"}}, "training.init_from: 'scratch' is not one of base|previous"),
    ({"training": {"target_modules": "q_proj"}}, "training.target_modules: must be a list of string, got 'q_proj'"),
    ({"threads": 0}, "threads: must be >= 1, got 0"),
    ({"generations": [{"gen": 2, "prev": 1}]}, "generations[0]: expected {gen: 1, prev: 0}"),
    ({"generations": [{"gen": 1}]}, "generations[0].prev: missing"),
    ({"model": {"source": "local"}}, "model.path: required when model.source is 'local'"),
    ({"evaluation": {"split": "deploy"}}, "evaluation.split: 'deploy' is the deployment split"),
    ({"tasks": {"splits": [{"name": "train"}, {"name": "test"}]}, "sampling": {"split": "deploy"}},
     "sampling.split: 'deploy' is not a split of the task set (tasks.splits has test, train)"),
])
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError) as exc:
        params_from_dict(data)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_overrides_like_dvc_exp_set_param(tmp_path):
    path = _write(tmp_path, {"curation": {"per_task": "shortest"}})
    p = load_params(path, overrides={"curation.per_task": "first", "sampling.k": 2})
    assert p.curation.per_task == "first" and p.sampling.k == 2
    assert set_dotted({"a": {"b": 1}}, "a.c", 2) == {"a": {"b": 1, "c": 2}}


def test_bad_yaml_names_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("threads: 1\ncuration: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value).startswith(f"{path}:")


def test_every_field_documented():
    rows = describe()
    assert rows, "no fields"
    for key, _type, text in rows:
        assert text and "\n" not in text, f"{key} has no one-line doc"


def test_configs_are_frozen():
    p = params_from_dict({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.curation.per_task = "first"  # type: ignore[misc]


def test_checked_in_dvc_yaml_is_generated_from_params():
    """dvc.yaml is generated (DVC has no loops): the checked-in file must be exactly the generator's output."""
    from iterdeploy.dvc import render_dvc_yaml
    from iterdeploy.stages import load_config

    assert (REPO / "dvc.yaml").read_text() == render_dvc_yaml(load_config(REPO / "params.yaml")), \
        "dvc.yaml is stale: run `iterdeploy dvcgen` and commit it"


def test_dvc_yaml_declares_params_metrics_plots():
    from iterdeploy.dvc import render_dvc_yaml

    p = params_from_dict({"generations": [{"gen": 1, "prev": 0}, {"gen": 2, "prev": 1}]})
    doc = yaml.safe_load(render_dvc_yaml(p))
    stages = doc["stages"]
    assert list(stages) == ["gen_000-checkpoint", "gen_000-evaluation"] + [
        f"gen_{g:03d}-{a}" for g in (1, 2)
        for a in ("samples", "validated_plans", "curated_dataset", "checkpoint", "evaluation")]
    assert stages["gen_002-curated_dataset"]["params"] == ["curation"]
    assert "runs/gen_001/curated_dataset.parquet" in stages["gen_002-curated_dataset"]["deps"]
    assert stages["gen_002-samples"]["deps"] == ["data/tasks", "runs/gen_001/checkpoint"]
    assert stages["gen_002-evaluation"]["metrics"] == ["runs/gen_002/metrics.json"]
    assert stages["gen_002-samples"]["cmd"] == "iterdeploy stage samples --gen 2"
    assert any("runs/gen_002/history.json" in (x if isinstance(x, dict) else {x: 0}) for x in doc["plots"])
    local = params_from_dict({"model": {"source": "local", "path": "/models/qwen"}})
    g0 = yaml.safe_load(render_dvc_yaml(local))["stages"]["gen_000-checkpoint"]
    assert g0.get("always_changed") is True and "deps" not in g0


@pytest.mark.parametrize("section, value, message", [
    ("tasks", {"seed": 0, "splits": [{"name": "train", "domain": "chess", "sizes": [3], "per_size": 1}]},
     "tasks.splits[0].domain: no generator for 'chess'"),
    ("tasks", {"seed": 0, "splits": [], "colour": 1}, "tasks: unknown key 'colour'"),
    ("model", {"embedded": {"hidden": 64, "heads": 3}}, "model.embedded"),
    ("model", {"embedded": {"widht": 64}}, "model.embedded: unknown key(s) widht"),
])
def test_sections_checked_by_their_layers(tmp_path, section, value, message):
    from iterdeploy.stages import load_config

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data[section] = value
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_dvcgen_cli(tmp_path, capsys):
    from iterdeploy.cli import main

    assert main(["dvcgen", "--check", "--root", str(REPO)]) == 0
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    assert main(["dvcgen", "--check", "--root", str(tmp_path)]) == 1
    assert main(["dvcgen", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text()
    assert main(["dvcgen", "--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()
