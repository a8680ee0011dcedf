"""Fine-tuning: loss masking, the bootstrap learns, determinism, LoRA adapters and the model card."""

from __future__ import annotations

import json
import os
import random

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from iterdeploy.config import build  # noqa: E402
from iterdeploy.errors import ConfigError  # noqa: E402
from iterdeploy.model.card import read_model_card  # noqa: E402
from iterdeploy.model.data import IGNORE, CompletionCollator, tokenize_example, tokenize_examples  # noqa: E402
from iterdeploy.model.embedded import EmbeddedModelConfig  # noqa: E402
from iterdeploy.model.loading import load_model  # noqa: E402
from iterdeploy.model.tokenizer import build_tokenizer  # noqa: E402
from iterdeploy.model.training import TrainConfig, TrainingDiverged, finetune  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_chat_model  # noqa: E402
from iterdeploy.planning import task_from_text  # noqa: E402
from iterdeploy.prompts import get_format  # noqa: E402
from iterdeploy.tasks.domains import domain_text  # noqa: E402
from iterdeploy.tasks.generators import generate_task  # noqa: E402

torch.set_num_threads(1)
SMALL = EmbeddedModelConfig(hidden=32, layers=2, heads=2, intermediate=64, max_objects=8, domains=("blocksworld",))


def blocksworld_examples(fmt, n: int, sizes=(2, 3)) -> list[tuple[str, str]]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        gen = generate_task("blocksworld", sizes[i % len(sizes)], rng)
        task = task_from_text(domain_text("blocksworld"), gen.problem)
        out.append((fmt.prompt(task, i), fmt.completion(task, list(gen.plan), i)))
    return out


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    return build_tiny_chat_model(tmp_path_factory.mktemp("chat") / "base")


@pytest.fixture(scope="module")
def chat_examples(chat_model):
    _, tok = load_model(chat_model)
    fmt = get_format("pddl-chat", tok)
    rng = random.Random(1)
    out = []
    for _ in range(8):
        gen = generate_task("blocksworld", 2, rng)
        task = task_from_text(domain_text("blocksworld"), gen.problem)
        out.append((fmt.prompt(task, 0), fmt.completion(task, list(gen.plan), 0)))
    return out


def test_loss_covers_exactly_the_completion_and_eos():
    tok = build_tokenizer(["blocksworld"], 8)
    row = tokenize_example(tok, "blocksworld init arm-empty goal plan", "pickup object1 ; end")
    prompt_ids = [tok.bos_token_id] + tok("blocksworld init arm-empty goal plan")["input_ids"]
    completion_ids = tok("pickup object1 ; end")["input_ids"] + [tok.eos_token_id]
    assert row["input_ids"] == prompt_ids + completion_ids
    assert row["labels"] == [IGNORE] * len(prompt_ids) + completion_ids
    short = tokenize_example(tok, "plan", "end")
    batch = CompletionCollator(tok.pad_token_id)([row, short])
    n = len(short["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, len(row["input_ids"]))
    assert batch["labels"][1, n:].eq(IGNORE).all() and batch["input_ids"][1, n:].eq(tok.pad_token_id).all()
    assert batch["attention_mask"].sum().item() == len(row["input_ids"]) + n
    learned = batch["labels"] != IGNORE
    assert learned.sum().item() == len(completion_ids) + 2  # "end" + eos of the short row
    rows, dropped = tokenize_examples(tok, [("plan", "end"), ("plan " * 50, "end")], max_length=20)
    assert len(rows) == 1 and dropped == 1
    with pytest.raises(ConfigError, match="longer than max_length"):
        tokenize_examples(tok, [("plan " * 50, "end")], max_length=20)


def test_randomised_positions_increase_with_random_gaps():
    row = {"input_ids": [5, 6, 7, 8], "labels": [5, 6, 7, 8]}
    batch = CompletionCollator(0, position_offset=100, seed=1)([row] * 8)
    pos = batch["position_ids"]
    assert pos.shape == (8, 4) and (pos[:, 1:] > pos[:, :-1]).all() and pos.max() < 104
    assert (pos[:, 1:] - pos[:, :-1]).max() > 1 and pos.unique(dim=0).shape[0] > 1


def test_full_finetuning_is_deterministic_and_can_start_from_a_previous_generation(tmp_path, chat_model,
                                                                                    chat_examples):
    cfg = TrainConfig(method="full", lr=1e-3, max_steps=3, batch_size=4, seed=5)
    a, b = tmp_path / "a", tmp_path / "b"
    stats = finetune(chat_model, chat_examples, cfg, a, progress=False)
    finetune(chat_model, chat_examples, cfg, b, progress=False)
    assert stats["wall_time_s"] > 0 and stats["steps"] == 3
    assert (a / "model_card.json").read_bytes() == (b / "model_card.json").read_bytes()  # no timings in it
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    base = load_file(chat_model / "model.safetensors")
    assert not all(torch.equal(wa[k], base[k]) for k in wa)
    c = tmp_path / "c"
    finetune(chat_model, chat_examples, cfg, c, init_from=a, progress=False)
    card = read_model_card(c)
    assert card["init_from"]["path"] == str(a) and card["base_model"]["path"] == str(chat_model)
    assert card["kind"] == "finetune-full" and card["train"]["method"] == "full"


def test_lora_adapter_reloads_and_merges_to_the_same_outputs(tmp_path, chat_model, chat_examples):
    cfg = TrainConfig(method="lora", lora_r=4, lora_alpha=8, lr=5e-2, max_steps=3, batch_size=4, seed=0)
    out = tmp_path / "gen1"
    finetune(chat_model, chat_examples, cfg, out, progress=False)
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    # relative to the adapter: a tree of models that moves as a whole still loads, in any clone
    assert adapter_config["base_model_name_or_path"] == os.path.relpath(chat_model, out)
    # peft stores a set; sorted, the file does not depend on the process's string hashing
    assert adapter_config["target_modules"] == cfg.modules == sorted(cfg.modules)
    model, tok = load_model(out)
    base, _ = load_model(chat_model)
    ids = torch.tensor([tok(chat_examples[0][0], add_special_tokens=False)["input_ids"][:64]])
    with torch.no_grad():
        adapted = model(ids).logits
        assert not torch.allclose(adapted, base(ids).logits, atol=1e-4)
        merged = model.merge_and_unload()(ids).logits
    assert torch.allclose(adapted, merged, atol=1e-5)
    # Generation 2 continues the adapter of generation 1 on the same base.
    gen2 = tmp_path / "gen2"
    finetune(chat_model, chat_examples, cfg, gen2, init_from=out, progress=False)
    card = read_model_card(gen2)
    assert card["init_from"]["hash"] and card["adapter_base"]["path"] == str(chat_model)
    with pytest.raises(ConfigError, match="not a LoRA adapter"):
        finetune(out, chat_examples, cfg, tmp_path / "bad", progress=False)


def test_train_config_checks_its_fields():
    assert build(TrainConfig, {"method": "full", "target_modules": ["q_proj"]}).target_modules == ["q_proj"]
    for bad in ({"method": "qlora"}, {"lr": 0}, {"max_steps": -1}, {"epochs": -1}, {"epochs": float("inf")},
                {"scheduler": "zigzag"}, {"lr_rate": 1}):
        with pytest.raises(ConfigError):
            build(TrainConfig, bad)


def test_diverged_training_fails_instead_of_writing_a_broken_model(tmp_path, chat_model, chat_examples):
    cfg = TrainConfig(method="full", lr=1e6, max_steps=3, batch_size=4)
    with pytest.raises(TrainingDiverged, match="training diverged"):
        finetune(chat_model, chat_examples, cfg, tmp_path / "nan", progress=False)
    assert not (tmp_path / "nan").exists()
