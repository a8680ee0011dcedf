"""params.yaml into one typed tree: every key given, overrides, strict YAML, one-line errors naming the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from iterdeploy import config
from iterdeploy.config import build, describe, set_dotted
from iterdeploy.errors import ConfigError
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.model.training import TrainConfig
from iterdeploy.pipeline.dvcgen import render_dvc_yaml
from iterdeploy.pipeline.params import LoopParams, load_params

REPO = Path(__file__).resolve().parents[1]
CHECKED_IN = yaml.safe_load((REPO / "params.yaml").read_text())
SPLITS = {"seed": 0, "planner": "naive", "splits": [
    {"name": "deploy", "domain": "ferry", "sizes": [2], "per_size": 2},
    {"name": "test", "domain": "ferry", "sizes": [2], "per_size": 2}]}


def _write(tmp_path: Path, data, name: str = "params.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def _with(key: str, value) -> dict:
    return set_dotted(CHECKED_IN, key, value)


def test_checked_in_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.gens == list(range(1, params.generations + 1)) and params.generations >= 8
    assert params.curation == type(params.curation)()  # the paper's rule is the default
    # the README's main command runs on a 2-core CPU with no accelerator
    assert params.runtime.device == "cpu" and 1 <= params.runtime.threads <= 2


def test_sections_are_the_model_layers_classes():
    """No second family: the sampling section is a SamplingConfig, the training section a TrainConfig."""
    params = load_params(REPO / "params.yaml")
    assert isinstance(params.sampling, SamplingConfig) and isinstance(params.evaluation, SamplingConfig)
    assert isinstance(params.training, TrainConfig)


def test_library_defaults_and_types():
    p = build(LoopParams, {"tasks": SPLITS, "training": {"lr": "1e-3"}})
    assert p.training.lr == 0.001 and p.sampling.k == SamplingConfig().k
    assert p.gens == list(range(1, LoopParams.__dataclass_fields__["generations"].default + 1))


def test_a_params_file_must_give_every_key(tmp_path):
    data = dict(CHECKED_IN)
    del data["curation"]
    with pytest.raises(ConfigError, match=r"params\.yaml: curation: missing"):
        load_params(_write(tmp_path, data))
    data = set_dotted(CHECKED_IN, "sampling", {k: v for k, v in CHECKED_IN["sampling"].items() if k != "top_p"})
    with pytest.raises(ConfigError, match=r"sampling\.top_p: missing"):
        load_params(_write(tmp_path, data))
    # optional knobs (null by default) may be left out
    data = set_dotted(CHECKED_IN, "model", {k: v for k, v in CHECKED_IN["model"].items() if k != "sha256"})
    assert load_params(_write(tmp_path, data)).model.sha256 is None


def test_bad_choice_names_key_and_file(tmp_path):
    path = _write(tmp_path, _with("curation.per_task", "longest"))
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value) == f"{path}: curation.per_task: 'longest' is not one of shortest|first|random|all"


@pytest.mark.parametrize("key, value, message", [
    ("curation.perTask", "first", "curation.perTask: unknown key"),
    ("bogus", 1, "bogus: unknown key"),
    ("sampling.k", 0, "sampling.k: must be >= 1, got 0"),
    ("sampling.k", 2.5, "sampling.k: must be an integer, got 2.5"),
    ("sampling.k", 10**9, "sampling.k: must be <= 10000"),
    ("sampling.top_p", 1.5, "sampling.top_p: must be <= 1, got 1.5"),
    ("sampling.backend", "onnx", "sampling.backend: 'onnx' is not one of transformers|vllm"),
    ("curation.accumulate", "yes", "curation.accumulate: must be true or false, got 'yes'"),
    ("training.method", "qlora", "training.method: 'qlora' is not one of lora|full"),
    ("training.scheduler", "zigzag", "training.scheduler: 'zigzag' is not one of linear|cosine"),
    ("training.epochs", float("inf"), "training.epochs: must be a finite number, got inf"),
    ("training.epochs", float("nan"), "training.epochs: must be a finite number"),
    ("training.init_from", "scratch", "training.init_from: 'scratch' is not one of base|previous"),
    ("training.target_modules", "q_proj", "training.target_modules: must be a list of string, got 'q_proj'"),
    ("runtime.threads", 0, "runtime.threads: must be >= 1, got 0"),
    ("runtime.device", "gpu0", "runtime.device: 'gpu0' is not a torch device"),
    ("runtime.dtype", "int8", "runtime.dtype: 'int8' is not one of auto|float32|bfloat16|float16"),
    ("generations", -1, "generations: must be >= 0"),
    ("paths.tasks", "/tmp/elsewhere", "paths.tasks: '/tmp/elsewhere' must be a relative path inside the project"),
    ("paths.runs", "../runs", "paths.runs: '../runs' must be a relative path inside the project"),
    ("model.sha256", "abc", "model.sha256: must be 64 lower-case hex digits"),
    ("evaluation.split", "deploy", "evaluation.split: 'deploy' is the deployment split"),
    ("evaluation.greedy", False, None),  # with k > 0 this is fine
    ("sampling.split", "train", "sampling.split: 'train' is not a split of the task set (tasks.splits has deploy, test)"),
    ("tasks.splits", [{"name": "test", "domain": "chess", "sizes": [3], "per_size": 1}],
     "tasks.splits[0].domain: no generator for 'chess'"),
    ("tasks.colour", 1, "tasks.colour: unknown key"),
    ("tasks.splits", [{"name": "test", "domain": "ferry", "sizes": [], "per_size": 1}],
     "tasks.splits[0].sizes: must be a non-empty list"),
])
def test_errors_name_the_key(tmp_path, key, value, message):
    path = _write(tmp_path, _with(key, value))
    if message is None:
        load_params(path)
        return
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)


def test_cross_section_rule():
    with pytest.raises(ConfigError, match="greedy is false and k is 0"):
        build(LoopParams, {"tasks": SPLITS, "evaluation": {"greedy": False, "k": 0}})


def test_overrides_like_dvc_exp_set_param(tmp_path):
    path = _write(tmp_path, CHECKED_IN)
    p = load_params(path, overrides={"curation.per_task": "first", "sampling.k": 2})
    assert p.curation.per_task == "first" and p.sampling.k == 2
    assert set_dotted({"a": {"b": 1}}, "a.c", 2) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize("content, message", [
    (b"runtime: {threads: 1}\ncuration: [unclosed\n", "not valid YAML"),
    (b"generations: 8\ngenerations: 9\n", "duplicate key 'generations' (also on line 1)"),
    ("generations: 8 # caf\u00e9\n".encode("latin-1"), "not UTF-8 text"),
    ("generations: 8\n".encode("utf-16"), "not UTF-8 text"),
    (b"a: " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested deeper than"),
    (b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 60)), "nested deeper than"),
    (b"\x00\x00\x00", "NUL"),
    (b"", "top level: must be a mapping"),
    (b"- 1\n- 2\n", "top level: must be a mapping"),
])
def test_unreadable_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    text = str(exc.value)
    assert text.startswith(f"{path}") and message in text and "\n" not in text and len(text) < 400, text


def test_missing_and_huge_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (config.MAX_FILE_BYTES + 1))
    with pytest.raises(ConfigError, match="larger than"):
        load_params(big)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_params(tmp_path)


def test_every_field_documented():
    rows = describe(LoopParams)
    assert len(rows) > 50
    for key, _type, text in rows:
        assert text and "\n" not in text, f"{key} has no one-line doc"


def test_every_knob_is_reachable_from_params():
    """Each field of the model layer's sections is a key of params.yaml (nothing settable only in code)."""
    keys = {key for key, _, _ in describe(LoopParams)}
    for section, cls in (("sampling", SamplingConfig), ("training", TrainConfig)):
        for f in dataclasses.fields(cls):
            assert f"{section}.{f.name}" in keys
    for key in ("runtime.device", "runtime.dtype", "sampling.backend", "training.group_by_length"):
        assert key in keys


def test_configs_are_frozen():
    p = load_params(REPO / "params.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.curation.per_task = "first"  # type: ignore[misc]


def test_checked_in_dvc_yaml_is_generated_from_params():
    """dvc.yaml is generated (DVC has no loops): the checked-in file must be exactly the generator's output."""
    assert (REPO / "dvc.yaml").read_text() == render_dvc_yaml(load_params(REPO / "params.yaml")), \
        "dvc.yaml is stale: run `iterdeploy dvcgen` and commit it"


def test_dvc_yaml_declares_params_metrics_plots():
    p = build(LoopParams, {"tasks": SPLITS, "generations": 2})
    doc = yaml.safe_load(render_dvc_yaml(p))
    stages = doc["stages"]
    assert list(stages) == ["gen_000-checkpoint", "gen_000-evaluation"] + [
        f"gen_{g:03d}-{a}" for g in (1, 2)
        for a in ("samples", "validated_plans", "curated_dataset", "checkpoint", "evaluation")]
    assert stages["gen_002-curated_dataset"]["params"] == ["curation"]
    assert "runs/gen_001/curated_dataset.parquet" in stages["gen_002-curated_dataset"]["deps"]
    assert stages["gen_002-samples"]["deps"] == ["data/tasks", "runs/gen_001/checkpoint"]
    assert stages["gen_002-evaluation"]["metrics"] == ["runs/gen_002/metrics.json"]
    assert "metrics" not in stages["gen_001-evaluation"]  # one metrics file: the last generation's
    assert "runs/gen_001/metrics.json" in stages["gen_001-evaluation"]["outs"]
    assert stages["gen_002-samples"]["cmd"] == "iterdeploy stage samples --gen 2"
    assert any("runs/gen_002/history.json" in (x if isinstance(x, dict) else {x: 0}) for x in doc["plots"])
    g0 = stages["gen_000-checkpoint"]
    # the base through params (path and sha256), never a DVC dependency that could pull in pre-training
    assert "deps" not in g0 and g0["params"] == ["model"] and "always_changed" not in g0
    for body in stages.values():  # no dependency listed twice
        assert len(body.get("deps", [])) == len(set(body.get("deps", [])))


def test_dvcgen_cli(tmp_path, capsys):
    from iterdeploy.cli import main

    assert main(["dvcgen", "--check", "--root", str(REPO)]) == 0
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    assert main(["dvcgen", "--check", "--root", str(tmp_path)]) == 1
    assert main(["dvcgen", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "dvc.yaml").read_text() == (REPO / "dvc.yaml").read_text()
    assert main(["dvcgen", "--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()


def test_command_line_flags_override_fields(tmp_path, capsys):
    """Every command reads the same tree; its --section.field flags override the file's fields."""
    import argparse

    from iterdeploy.commands import add_config_arguments, load_project_params

    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(REPO))
    parser.add_argument("--params", default="params.yaml")
    add_config_arguments(parser, ["sampling", "runtime"])
    args = parser.parse_args(["--sampling.k", "16", "--runtime.threads", "1", "--sampling.temperature", "0.5"])
    p = load_project_params(args)
    assert (p.sampling.k, p.runtime.threads, p.sampling.temperature) == (16, 1, 0.5)
    args = parser.parse_args(["--sampling.k", "many"])
    with pytest.raises(ConfigError, match="sampling.k: must be an integer, got 'many'"):
        load_project_params(args)
    with pytest.raises(SystemExit):  # a section the command does not read has no flags
        parser.parse_args(["--training.lr", "1"])
    capsys.readouterr()
