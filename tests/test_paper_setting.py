"""The paper's setting without a real model: task splits taken from a PDDL collection (the IPC set), the presets
in experiments/ (checked by `iterdeploy run --dry`), dvc.yaml for another params file, the requests the vLLM
backend sends (a fake `vllm` module), runtime.device honoured (nothing picks CUDA by itself), GGUF errors,
and the report's line for a generation with no valid sample."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from conftest import IPC_DOMAINS, IPC_ROOT  # noqa: E402

from iterdeploy.cli import main  # noqa: E402
from iterdeploy.config import build, load  # noqa: E402
from iterdeploy.errors import ConfigError  # noqa: E402
from iterdeploy.pipeline.params import LoopParams  # noqa: E402
from iterdeploy.tasks.records import content_hash  # noqa: E402
from iterdeploy.tasks.spec import TaskSetSpec, spec_of  # noqa: E402
from iterdeploy.tasks.taskset import build_taskset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "experiments"
DEFAULT_COLLECTION = "../shared/benchmarks/ipc2023-learning"


def spec(*splits, seed: int = 0) -> TaskSetSpec:
    return build(TaskSetSpec, {"seed": seed, "planner": "naive", "splits": list(splits)}, "tasks", complete=True)


def ipc(name: str, domain: str, subsets=None, limit=None) -> dict:
    out = {"name": name, "domain": domain, "collection": str(IPC_ROOT)}
    if subsets is not None:
        out["subsets"] = subsets
    if limit is not None:
        out["limit"] = limit
    return out


# --------------------------------------------------------------------------- collection splits


def test_a_task_set_mixes_generated_and_collection_splits(ipc_root, tmp_path):
    s = spec({"name": "train", "domain": "blocksworld", "sizes": [3], "per_size": 2},
             ipc("test", "blocksworld", ["testing/easy", "testing/medium"], limit=2),
             ipc("deploy", "rovers", ["training/easy"], limit=3))
    manifest = build_taskset(s, tmp_path / "set")
    assert list(manifest["task_id"]) == [
        "blocksworld-train-s03-000", "blocksworld-train-s03-001",
        "blocksworld-test-testing-easy-p01", "blocksworld-test-testing-easy-p02",
        "blocksworld-test-testing-medium-p01", "blocksworld-test-testing-medium-p02",
        "rovers-deploy-training-easy-p01", "rovers-deploy-training-easy-p02", "rovers-deploy-training-easy-p03"]
    row = manifest.set_index("task_id").loc["blocksworld-test-testing-medium-p02"]
    problem = ipc_root / "blocksworld" / "testing" / "medium" / "p02.pddl"
    assert (tmp_path / "set" / row["problem_path"]).read_bytes() == problem.read_bytes()  # byte for byte
    plan = ipc_root / "blocksworld" / "plans" / "testing" / "medium" / "p02.plan"
    assert (tmp_path / "set" / row["plan_path"]).read_bytes() == plan.read_bytes()
    assert row["content_hash"] == content_hash(problem.read_bytes())
    assert row["difficulty"] == "medium" and row["split"] == "test" and pd.isna(row["seed"])
    assert row["reference_length"] == sum(1 for line in plan.read_text().splitlines() if line.startswith("("))
    # the collection's domain file (identical to the packaged one for blocksworld: one file per domain)
    assert (tmp_path / "set" / "domains" / "rovers.pddl").read_bytes() == (ipc_root / "rovers" / "domain.pddl").read_bytes()
    assert manifest["content_hash"].is_unique
    # every reference plan copied from the collection is valid for its task
    assert main(["tasks", "check", str(tmp_path / "set")]) == 0
    assert spec_of(tmp_path / "set") == s  # spec.json records the collection splits


def test_default_subsets_are_every_training_and_testing_folder(ipc_root, tmp_path):
    manifest = build_taskset(spec(ipc("test", "ferry", limit=1)), tmp_path / "set")
    found = sorted(f"{p.name}/{d.name}" for p in (ipc_root / "ferry").glob("*ing") for d in p.iterdir())
    assert len(manifest) == len(found) == 3  # training/easy, testing/easy, testing/medium
    assert sorted(manifest["task_id"]) == sorted(f"ferry-test-{f.replace('/', '-')}-p01" for f in found)


def test_a_collection_relative_path_is_read_from_the_project_root(ipc_root, tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "bench").symlink_to(ipc_root)
    s = spec({"name": "test", "domain": "spanner", "collection": "../bench", "subsets": ["testing/easy"], "limit": 2})
    manifest = build_taskset(s, tmp_path / "project" / "data" / "tasks", tmp_path / "project")
    assert len(manifest) == 2


def test_a_generated_task_never_repeats_a_collection_task(ipc_root, tmp_path):
    """Generated splits re-draw any task that a collection split already holds."""
    easy = sorted((ipc_root / "blocksworld" / "training" / "easy").glob("*.pddl"))
    taken = {content_hash(p.read_bytes()) for p in easy}
    s = spec(ipc("train", "blocksworld", ["training/easy"]),
             {"name": "test", "domain": "blocksworld", "sizes": [3, 4], "per_size": 20})
    manifest = build_taskset(s, tmp_path / "set")
    generated = manifest[manifest["split"] == "test"]
    assert len(generated) == 40 and not set(generated["content_hash"]) & taken
    assert manifest["content_hash"].is_unique


@pytest.mark.parametrize("split, message", [
    ({"name": "test", "domain": "blocksworld"}, "sizes: missing; give sizes and per_size"),
    ({"name": "test", "domain": "blocksworld", "sizes": [3]}, "per_size: missing"),
    ({"name": "test", "domain": "blocksworld", "sizes": [3], "per_size": 2, "collection": "x"},
     "give either sizes and per_size .* or collection .*, not both"),
    ({"name": "test", "domain": "blocksworld", "subsets": ["testing/easy"]}, "collection: missing"),
    ({"name": "test", "domain": "blocksworld", "limit": 3}, "collection: missing"),
    ({"name": "test", "domain": "blocksworld", "collection": "c", "subsets": ["../testing"]},
     r"subsets\[0\]: '../testing' must be a relative folder"),
    ({"name": "test", "domain": "blocksworld", "collection": "c", "subsets": ["/abs"]}, "must be a relative folder"),
    ({"name": "test", "domain": "blocksworld", "collection": "c", "subsets": []}, "subsets: must be a non-empty"),
    ({"name": "test", "domain": "blocksworld", "collection": "c", "subsets": ["a", "a"]}, "lists a folder twice"),
    ({"name": "test", "domain": "blocksworld", "collection": "c", "limit": 0}, "limit: must be >= 1"),
    ({"name": "test", "domain": "Blocks World", "collection": "c"}, "domain: 'Blocks World' must be a folder name"),
    ({"name": "test", "domain": "nogen", "sizes": [3], "per_size": 1}, "domain: no generator for 'nogen'"),
])
def test_split_kinds_are_exactly_one_of(split, message):
    with pytest.raises(ConfigError, match=message) as err:
        spec(split)
    assert str(err.value).startswith("tasks.splits[0].") and "\n" not in str(err.value)


def test_the_same_collection_subsets_twice_are_refused():
    with pytest.raises(ConfigError, match=r"splits\[1\]: takes the same subsets of ferry"):
        spec(ipc("deploy", "ferry", ["training/easy"]), ipc("test", "ferry", ["training/easy"]))


@pytest.mark.parametrize("split, message", [
    ({"name": "test", "domain": "blocksworld", "collection": "no/such/folder"},
     r"collection folder not found: no/such/folder \(looked in "),
    (ipc("test", "nodomain"), "the collection has no nodomain/domain.pddl; its domains: blocksworld, childsnack"),
    (ipc("test", "blocksworld", ["testing/hard"]), "subset testing/hard not found; blocksworld has testing/easy"),
    (ipc("test", "blocksworld", ["plans"]), "subset plans holds no .pddl problem files"),
])
def test_a_missing_collection_or_subset_is_one_line(ipc_root, tmp_path, split, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_taskset(spec(split), tmp_path / "set", tmp_path)
    assert "\n" not in str(err.value) and not (tmp_path / "set").exists()


def test_a_problem_twice_in_collections_is_refused(ipc_root, tmp_path):
    copy = tmp_path / "copy"
    (copy / "blocksworld" / "training" / "easy").mkdir(parents=True)
    (copy / "blocksworld" / "domain.pddl").write_bytes((ipc_root / "blocksworld" / "domain.pddl").read_bytes())
    p01 = (ipc_root / "blocksworld" / "training" / "easy" / "p01.pddl").read_bytes()
    for name in ("p01", "p02"):
        (copy / "blocksworld" / "training" / "easy" / f"{name}.pddl").write_bytes(p01)
    with pytest.raises(ConfigError, match="task blocksworld-test-training-easy-p02 is the same problem as "
                                          "blocksworld-test-training-easy-p01"):
        build_taskset(spec({"name": "test", "domain": "blocksworld", "collection": str(copy)}), tmp_path / "set")


def test_a_generated_spec_keeps_its_spec_json_bytes(tmp_path):
    """A set of generated splits writes no null collection keys: its data.dvc hash does not move."""
    build_taskset(spec({"name": "test", "domain": "ferry", "sizes": [2], "per_size": 1}), tmp_path / "set")
    written = json.loads((tmp_path / "set" / "spec.json").read_text())
    assert written["splits"] == [{"name": "test", "domain": "ferry", "sizes": [2], "per_size": 1}]


def test_data_dvc_pins_a_collection_task_set(ipc_root, tmp_path):
    """`iterdeploy run`'s pin: dvc add on first use, then a rebuilt folder matches the pin."""
    from iterdeploy.pipeline import dvc
    from iterdeploy.pipeline.context import Context
    from iterdeploy.pipeline.pin import pin_taskset

    root = tmp_path / "project"
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tasks"]["splits"] = [{"name": "deploy", "domain": "ferry", "sizes": [2], "per_size": 2},
                                 ipc("test", "ferry", ["testing/easy"], limit=2)]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    import subprocess
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc.init_repo(root)
    ctx = Context(root=root, params=load(LoopParams, root / "params.yaml"), log=lambda m: None)
    first = pin_taskset(ctx)
    assert first["pinned"] and first["by_split"] == {"deploy": 2, "test": 2}
    pinned = dvc.read_pin(root)["md5"]
    edited = next((root / "data" / "tasks" / "ferry" / "test").glob("*.pddl"))
    edited.write_text("; edited by hand\n" + edited.read_text())  # an edited folder is rebuilt, and matches
    again = pin_taskset(Context(root=root, params=ctx.params, log=lambda m: None))
    assert not again["pinned"] and again["md5"] == pinned


# --------------------------------------------------------------------------- presets and --dry


def _preset_project(tmp_path: Path, name: str) -> Path:
    """The preset in a project folder, its collection path pointing at IPC_ROOT (the IPC_BENCHMARKS override)."""
    data = yaml.safe_load((PRESETS / name).read_text())
    for split in data["tasks"]["splits"]:
        if "collection" in split:
            assert split["collection"] == DEFAULT_COLLECTION  # as shipped: relative to the project root
            split["collection"] = str(IPC_ROOT)
    (tmp_path / "experiments").mkdir(exist_ok=True)
    (tmp_path / "experiments" / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path


@pytest.mark.parametrize("name, domains", [("paper-exp1.yaml", ["blocksworld", "rovers", "sokoban"]),
                                           ("paper-exp2.yaml", IPC_DOMAINS)])
def test_paper_presets_pass_the_dry_run(ipc_root, tmp_path, capsys, name, domains):
    root = _preset_project(tmp_path, name)
    assert not (root / "models").exists() and not (root / ".dvc").exists()  # neither model nor DVC needed
    assert main(["run", "--root", str(root), "--params", f"experiments/{name}", "--dry"]) == 0
    out = capsys.readouterr().out
    params = load(LoopParams, root / "experiments" / name)
    assert params.model.prompt_format == "pddl-chat" and params.model.enable_thinking is True
    assert params.training.method == "lora" and params.training.init_from == "base"
    assert params.sampling.backend == "vllm" and params.runtime.device == "cuda"
    assert params.runtime.dtype == "bfloat16"
    assert sorted({s.domain for s in params.tasks.splits}) == sorted(domains)
    for domain in domains:
        train = len(list((ipc_root / domain / "training" / "easy").glob("*.pddl")))
        assert f"deploy   {domain:<12} {train:>4} tasks ({train} with reference plans)" in out
        assert f"test     {domain:<12}   60 tasks (60 with reference plans)" in out
    assert "model: models/qwen3-4b (pddl-chat, enable_thinking true): not present here" in out
    stages = [line for line in out.splitlines() if line.startswith("  gen_")]
    assert len(stages) == 2 + 5 * params.generations
    assert stages[-1].split()[0] == f"gen_{params.generations:03d}-evaluation"
    assert not (root / "dvc.yaml").exists() and not (root / "data").exists()  # --dry writes nothing


def test_the_dry_run_names_a_missing_collection(tmp_path, capsys):
    root = _preset_project(tmp_path, "paper-exp1.yaml")
    preset = root / "experiments" / "paper-exp1.yaml"
    preset.write_text(preset.read_text().replace(str(IPC_ROOT), str(tmp_path / "nowhere"), 1))
    assert main(["run", "--root", str(root), "--params", "experiments/paper-exp1.yaml", "--dry"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tasks.splits (deploy, blocksworld): collection folder not found" in err


def test_the_smollm2_preset_passes_the_dry_run(capsys):
    assert main(["run", "--root", str(REPO), "--params", "experiments/smollm2-cpu.yaml", "--dry",
                 "gen_001-checkpoint"]) == 0
    out = capsys.readouterr().out
    params = load(LoopParams, PRESETS / "smollm2-cpu.yaml")
    assert params.model.path == "models/smollm2-135m" and params.runtime.device == "cpu"
    assert params.sampling.backend == params.evaluation.backend == "transformers"
    marked = [line.split()[0] for line in out.splitlines() if line.startswith(" *")]
    assert marked == ["*gen_000-checkpoint", "*gen_001-samples", "*gen_001-validated_plans",
                      "*gen_001-curated_dataset", "*gen_001-checkpoint"]


@pytest.mark.parametrize("change, message", [
    ({"runtime": {"threads": 1, "device": "cpu", "dtype": "auto"}},
     "sampling.backend: vllm runs on a CUDA device, but runtime.device is 'cpu'"),
    ({"model": {"path": "m", "prompt_format": "compact", "enable_thinking": True}},
     "model.enable_thinking: only the pddl-chat format"),
])
def test_preset_contradictions_are_one_line(tmp_path, change, message):
    data = yaml.safe_load((PRESETS / "paper-exp1.yaml").read_text())
    data.update(change)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load(LoopParams, tmp_path / "p.yaml")


def test_dvc_yaml_for_another_params_file(tmp_path, capsys):
    from iterdeploy.pipeline.dvcgen import render_dvc_yaml

    params = load(LoopParams, PRESETS / "smollm2-cpu.yaml")
    doc = yaml.safe_load(render_dvc_yaml(params, "experiments/smollm2-cpu.yaml"))
    stage = doc["stages"]["gen_002-samples"]
    assert stage["cmd"] == "iterdeploy stage samples --gen 2 --params experiments/smollm2-cpu.yaml"
    # sampling's fields one by one: the executor fields (where, not what) are not DVC params
    sampled = ["runtime", "model", "sampling.k", "sampling.temperature", "sampling.top_p", "sampling.max_new_tokens",
               "sampling.batch_size", "sampling.seed", "sampling.backend", "sampling.split"]
    assert stage["params"] == [{"experiments/smollm2-cpu.yaml": sampled}]
    default = yaml.safe_load(render_dvc_yaml(params))["stages"]["gen_002-samples"]
    assert default["cmd"] == "iterdeploy stage samples --gen 2" and default["params"] == sampled
    # dvcgen and run name the file as the project root sees it; a file outside the root is refused
    assert main(["dvcgen", "--root", str(REPO), "--params", "experiments/smollm2-cpu.yaml", "--stdout"]) == 0
    outside = tmp_path / "p.yaml"
    outside.write_text((PRESETS / "smollm2-cpu.yaml").read_text())
    capsys.readouterr()
    assert main(["dvcgen", "--root", str(REPO), "--params", str(outside), "--stdout"]) == 2
    assert "must be a file inside the project root" in capsys.readouterr().err


# --------------------------------------------------------------------------- vLLM requests (a fake vllm)


class _FakeLLM:
    made: list["_FakeLLM"] = []

    def __init__(self, **kwargs):
        from iterdeploy.model.loading import load_tokenizer

        self.kwargs = kwargs
        self.tokenizer = load_tokenizer(kwargs["tokenizer"])
        self.calls = []
        _FakeLLM.made.append(self)

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, requests, params, lora_request=None, use_tqdm=False):
        self.calls.append((requests, params, lora_request))
        outs = []
        for i, p in enumerate(params):
            text = "(pick-up b1)\n" if i % 2 == 0 else "(pick-up"
            reason = "stop" if i % 2 == 0 else "length"
            outs.append(types.SimpleNamespace(outputs=[types.SimpleNamespace(text=text, token_ids=[5] * (i + 1),
                                                                              finish_reason=reason)]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch):
    """`vllm`, `vllm.inputs` and `vllm.lora.request` as recording stand-ins (no GPU here)."""
    vllm = types.ModuleType("vllm")
    vllm.LLM = _FakeLLM
    vllm.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda **kw: dict(kw)
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, id_, path: types.SimpleNamespace(name=name, id=id_, path=path)
    for name, mod in (("vllm", vllm), ("vllm.inputs", inputs), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, mod)
    _FakeLLM.made.clear()
    return _FakeLLM.made


@pytest.fixture(scope="module")
def chat_models(tmp_path_factory):
    """A tiny random chat model and a LoRA adapter on it."""
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.training import TrainConfig, finetune
    from iterdeploy.testing.tiny_models import build_tiny_chat_model

    root = tmp_path_factory.mktemp("chat")
    base = build_tiny_chat_model(root / "base")
    adapter = root / "adapter"
    finetune(base, [("(define (problem p))", "(pick-up b1)\n")] * 2,
             TrainConfig(method="lora", lora_r=4, lora_alpha=8, max_steps=1, batch_size=2), adapter, Runtime(threads=1))
    return base, adapter


def test_vllm_sends_one_token_request_per_row_with_its_seed(fake_vllm, chat_models):
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling import sample
    from iterdeploy.model.sampling_config import SamplingConfig, row_seed
    from iterdeploy.model.tokenizer import encode_prompt

    base, _ = chat_models
    prompts = [("t-a", "<|im_start|>user\n(define (problem a))<|im_end|>\n<|im_start|>assistant\n"), ("t-b", "hi")]
    cfg = SamplingConfig(k=3, temperature=0.7, top_p=0.9, max_new_tokens=50, batch_size=32, seed=11, backend="vllm")
    df = sample(base, prompts, cfg, Runtime(threads=1, device="cuda", dtype="bfloat16"))
    (llm,) = fake_vllm
    assert llm.kwargs["model"] == str(base) and llm.kwargs["dtype"] == "bfloat16"
    assert llm.kwargs["trust_remote_code"] is False and llm.kwargs["max_num_seqs"] == 32
    assert "enable_lora" not in llm.kwargs
    ((requests, params, lora),) = llm.calls
    assert lora is None and len(requests) == len(params) == 6
    tok = load_tokenizer(base)
    expected = [(t, s) for t, _ in prompts for s in range(3)]
    for (task_id, s), req, p in zip(expected, requests, params):
        assert req["prompt_token_ids"] == encode_prompt(tok, dict(prompts)[task_id])
        assert p.seed == row_seed(11, task_id, s) and p.n == 1
        assert (p.temperature, p.top_p, p.max_tokens) == (0.7, 0.9, 50)
        assert p.stop_token_ids == [tok.convert_tokens_to_ids("<|im_end|>")]
    assert list(df["task_id"]) == [t for t, _ in expected] and list(df["sample_index"]) == [0, 1, 2] * 2
    assert list(df["finish_reason"])[:2] == ["stop", "length"] and df["completion_tokens"].tolist() == [1, 2, 3, 4, 5, 6]


def test_vllm_serves_an_adapter_as_a_lora_request_and_greedy_as_temperature_0(fake_vllm, chat_models):
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling import sample
    from iterdeploy.model.sampling_config import SamplingConfig

    base, adapter = chat_models
    sample(adapter, [("t", "hello")], SamplingConfig(k=1, temperature=0.0, backend="vllm"),
           Runtime(threads=1, device="cuda:0"))
    (llm,) = fake_vllm
    assert llm.kwargs["model"] == str(base.resolve()) or Path(llm.kwargs["model"]).resolve() == base.resolve()
    assert llm.kwargs["enable_lora"] is True and llm.kwargs["max_lora_rank"] == 8 and llm.kwargs["dtype"] == "auto"
    ((_, params, lora),) = llm.calls
    assert lora.path == str(adapter) and params[0].temperature == 0.0


@pytest.mark.parametrize("device, message", [("cpu", "runs on a CUDA device"), ("cuda:1", "takes no device index")])
def test_vllm_refuses_a_device_it_cannot_use(fake_vllm, chat_models, device, message):
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling import sample
    from iterdeploy.model.sampling_config import SamplingConfig

    with pytest.raises(ConfigError, match=message):
        sample(chat_models[0], [("t", "hi")], SamplingConfig(backend="vllm"), Runtime(threads=1, device=device))
    assert not fake_vllm  # refused before an engine is made


# --------------------------------------------------------------------------- runtime.device honoured


def test_nothing_picks_cuda_by_itself(monkeypatch, chat_models, tmp_path):
    """On a machine that (pretends to) have CUDA, device cpu keeps loading, sampling and training on the CPU;
    touching CUDA here would fail, since there is none."""
    import torch

    from iterdeploy.model.loading import load_model
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling import sample
    from iterdeploy.model.sampling_config import SamplingConfig
    from iterdeploy.model.training import TrainConfig, finetune

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    cpu = Runtime(threads=1, device="cpu")
    assert cpu.torch_dtype() == torch.float32 and Runtime(threads=1, device="cuda").torch_dtype() == torch.bfloat16
    model, _ = load_model(chat_models[0], cpu)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    df = sample(chat_models[0], [("t", "hi")], SamplingConfig(k=1, max_new_tokens=4), cpu)
    assert len(df) == 1
    stats = finetune(chat_models[0], [("a", "b")], TrainConfig(method="lora", lora_r=2, lora_alpha=4, max_steps=1,
                                                                batch_size=1), tmp_path / "ft", cpu)
    assert stats["steps"] == 1


def test_a_cuda_device_on_a_machine_without_one_is_one_line(chat_models):
    from iterdeploy.model.loading import load_model
    from iterdeploy.model.runtime import Runtime

    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="runtime.device: 'cuda' but this machine has no CUDA device"):
        load_model(chat_models[0], Runtime(threads=1, device="cuda"))


# --------------------------------------------------------------------------- GGUF files


def test_import_gguf_refuses_missing_and_corrupt_files(tmp_path, capsys):
    pytest.importorskip("gguf")
    cases = {"missing.gguf": None, "text.gguf": b"not a model at all", "truncated.gguf": b"GGUF\x03\x00\x00\x00\x07",
             "folder.gguf": "dir"}
    for name, content in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        assert main(["models", "import-gguf", str(path), "--out", str(tmp_path / "out")]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"iterdeploy models: error: {path}: ") and "\n" not in err, err
        assert ("not found" if content is None else "not a regular file" if content == "dir" else
                "not a GGUF file" if name == "text.gguf" else "cannot read the") in err, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the report


def test_the_report_says_when_a_generation_had_no_valid_sample():
    from iterdeploy.report.markdown import no_valid_lines

    data = {"deployment": {"1": {"samples": 48, "valid": 0, "solved": 0, "tasks": 12, "longest_valid": None},
                           "2": {"samples": 48, "valid": 3, "solved": 2, "tasks": 12, "longest_valid": 4},
                           "3": {"samples": 48, "valid": 0, "solved": 0, "tasks": 12, "longest_valid": None}},
            "curated": {"1": {"rows": 0}, "2": {"rows": 2}, "3": {"rows": 2}}}
    assert no_valid_lines(data) == [
        "**gen_001: no valid sample** among its 48 deployment samples; its curated dataset is empty, so model "
        "gen_001 is the previous model carried forward unchanged (not trained).",
        "**gen_003: no valid sample** among its 48 deployment samples; model gen_003 trains on the 2 plans "
        "accumulated in earlier generations."]


# --------------------------------------------------------------------------- the warm start


def test_warm_start_writes_a_merged_base_the_loop_can_name(chat_models, tmp_path, capsys):
    """`iterdeploy models warm-start`: LoRA on the reference plans of the train split (pddl-chat), merged into a
    full folder; a tiny random chat model stands in for SmolLM2."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from iterdeploy.model.loading import is_adapter

    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    shutil.copytree(chat_models[0], root / "models" / "chat")
    data = yaml.safe_load((PRESETS / "smollm2-cpu.yaml").read_text())
    data["model"]["path"] = "models/chat"
    data["tasks"]["splits"] = [{"name": "train", "domain": "blocksworld", "sizes": [2, 3], "per_size": 2},
                               {"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 1},
                               {"name": "test", "domain": "blocksworld", "sizes": [4], "per_size": 1}]
    (root / "warm.yaml").write_text(yaml.safe_dump(data))
    args = ["models", "warm-start", "--root", str(root), "--params", "warm.yaml", "--split", "train", "--max-size", "2",
            "--out", str(root / "models" / "warm"), "--training.max_steps", "2", "--training.lr", "0.01"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "warm start: 2 reference plans of split 'train' (sizes [2]), lora on models/chat" in out
    warm = root / "models" / "warm"
    assert not is_adapter(warm) and (warm / "config.json").is_file()
    card = json.loads((warm / "model_card.json").read_text())
    assert card["kind"] == "warm-start-lora-merged" and card["steps"] == 2 and card["lora"]["r"] == 16
    assert card["source"]["tasks"] == ["blocksworld-train-s02-000", "blocksworld-train-s02-001"]
    before, after = load_file(str(chat_models[0] / "model.safetensors")), load_file(str(warm / "model.safetensors"))
    assert set(before) == set(after)  # the base's own tensors, no LoRA leftovers
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the merged adapter changed them
    assert not (root / "data").exists()  # the project's task set folder is untouched
    data["model"]["path"] = "models/warm"
    (root / "loop.yaml").write_text(yaml.safe_dump(data))
    assert main(["run", "--root", str(root), "--params", "loop.yaml", "--dry"]) == 0
    assert "model: models/warm (pddl-chat): present" in capsys.readouterr().out
    assert main(args[:-4] + ["--split", "deploy", "--max-size", "1"]) == 2
    assert "--split deploy: no task with a reference plan of size <= 1" in capsys.readouterr().err
