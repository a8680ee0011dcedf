"""Sampling: agrees with transformers' generate, reproducible under a seed, rows and finish reasons."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import random

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402

from iterdeploy.artifacts import tree_hash  # noqa: E402
from iterdeploy.errors import ConfigError  # noqa: E402
from iterdeploy.model.decoding import choose_tokens, generate  # noqa: E402
from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model  # noqa: E402
from iterdeploy.model.loading import load_model  # noqa: E402
from iterdeploy.model.sampling import COLUMNS, sample  # noqa: E402
from iterdeploy.model.sampling_config import SamplingConfig  # noqa: E402
from iterdeploy.model.tokenizer import build_tokenizer, encode_prompt, save_tokenizer  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_chat_model  # noqa: E402
from iterdeploy.planning import task_from_text  # noqa: E402
from iterdeploy.prompts import get_format  # noqa: E402
from iterdeploy.tasks.domains import domain_text  # noqa: E402
from iterdeploy.tasks.generators import generate_task  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A random embedded model folder and compact prompts of different lengths."""
    tok = build_tokenizer(["blocksworld", "ferry"], 16)
    folder = tmp_path_factory.mktemp("emb") / "model"
    model = new_embedded_model(EmbeddedModelConfig(hidden=32, layers=2, heads=2, intermediate=64, max_objects=16,
                                                   domains=("blocksworld", "ferry")), tok, seed=1)
    model.save_pretrained(folder)
    save_tokenizer(tok, folder)
    fmt = get_format("compact", tok)
    rng = random.Random(0)
    prompts = []
    for i, (domain, size) in enumerate([("blocksworld", 2), ("ferry", 3), ("blocksworld", 5), ("ferry", 2)]):
        task = task_from_text(domain_text(domain), generate_task(domain, size, rng).problem)
        prompts.append((f"t{i}", fmt.prompt(task, i)))
    return folder, prompts


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    folder = build_tiny_chat_model(tmp_path_factory.mktemp("chat") / "model")
    _, tok = load_model(folder)
    prompts = [(f"c{i}", tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True))
               for i, text in enumerate(["(pickup b1)", "(define (problem p) (:domain blocksworld))", "hi"])]
    return folder, prompts


@pytest.mark.parametrize("which", ["embedded", "chat"])
def test_greedy_batches_agree_with_generate_one_prompt_at_a_time(which, request):
    folder, prompts = request.getfixturevalue(which)
    model, tok = load_model(folder)
    cfg = SamplingConfig(k=1, temperature=0.0, max_new_tokens=12, batch_size=8)
    rows = generate(model, tok, prompts, cfg)
    for (task_id, prompt), row in zip(prompts, rows):
        ids = torch.tensor([encode_prompt(tok, prompt)])
        ref = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                             pad_token_id=tok.pad_token_id)[0, ids.shape[1]:]
        assert row["task_id"] == task_id
        assert tok.decode(ref, skip_special_tokens=True) == row["completion"]
        assert row["completion_tokens"] == len(ref)


def test_sampling_is_reproducible_and_independent_of_batching(embedded):
    folder, prompts = embedded
    cfg = SamplingConfig(k=3, temperature=1.0, top_p=0.9, max_new_tokens=16, batch_size=5, seed=7)
    a = sample(folder, prompts, cfg)
    assert list(a.columns) == COLUMNS and len(a) == 12
    assert a[["task_id", "sample_index"]].values.tolist() == [[t, s] for t, _ in prompts for s in range(3)]
    assert a.equals(sample(folder, prompts, cfg))
    regrouped = sample(folder, prompts, dataclasses.replace(cfg, batch_size=2))
    assert (regrouped["completion"] == a["completion"]).mean() >= 0.9  # float noise of padding may flip a token
    other = sample(folder, prompts, dataclasses.replace(cfg, seed=8))
    assert not other["completion"].equals(a["completion"])
    assert a.groupby("task_id")["completion"].nunique().max() > 1  # k samples differ
    assert (a["model_hash"] == tree_hash(folder)).all()


def test_rows_record_tokens_and_finish_reasons(embedded):
    folder, prompts = embedded
    df = sample(folder, prompts, SamplingConfig(k=2, max_new_tokens=4, batch_size=3))
    _, tok = load_model(folder)
    for r in df.itertuples():
        prompt = dict(prompts)[r.task_id]
        assert r.prompt_tokens == len(encode_prompt(tok, prompt))
        assert 1 <= r.completion_tokens <= 4
        assert r.finish_reason in ("stop", "length")
        assert r.finish_reason == "stop" or r.completion_tokens == 4


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.05, 0.05]]))
    cfg = SamplingConfig(temperature=1.0, top_p=0.5)
    gens = [random.Random(0)]
    assert {choose_tokens(logits, gens, cfg).item() for _ in range(50)} == {0}
    cfg = SamplingConfig(temperature=1.0, top_p=0.85)
    assert {choose_tokens(logits, gens, cfg).item() for _ in range(200)} == {0, 1}


def test_vllm_backend_refuses_what_it_cannot_run(embedded, tmp_path):
    import json
    import shutil

    folder, prompts = embedded
    linear = tmp_path / "linear"
    shutil.copytree(folder, linear)
    config = json.loads((linear / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "linear", "factor": 1e30, "rope_theta": 10000.0}
    (linear / "config.json").write_text(json.dumps(config))
    from iterdeploy.model.runtime import Runtime

    gpu = Runtime(device="cuda")  # vLLM's device; nothing here touches CUDA
    with pytest.raises(ConfigError, match="NoPE"):
        sample(linear, prompts, SamplingConfig(backend="vllm"), gpu)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ConfigError, match="needs the vllm package"):
            sample(folder, prompts, SamplingConfig(backend="vllm"), gpu)
    with pytest.raises(ConfigError, match="runs on a CUDA device"):
        sample(folder, prompts, SamplingConfig(backend="vllm"))


@pytest.mark.parametrize("which,rows", [("embedded", [0, 0, 1, 2, 2]), ("chat", [0, 0, 1, 2, 2]),
                                        ("embedded", [0, 0, 0, 0, 1, 2, 2, 2, 2])])
def test_fast_forward_gives_the_models_own_logits(which, rows, request):
    """The fused forward with shared prompts reproduces the model's logits, prefill and every step (up to 4 rows
    per prompt: the batched-matmul path over transposed keys)."""
    from iterdeploy.model import fast_llama

    folder, prompts = request.getfixturevalue(which)
    model, tok = load_model(folder)
    assert fast_llama.supports(model)
    ids = [encode_prompt(tok, p) for _, p in prompts[:3]]
    width = max(map(len, ids))
    x = torch.tensor([[tok.pad_token_id] * (width - len(i)) + i for i in ids])
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(i) for i in ids])[:, None]).long()
    fast = fast_llama.FastLlama(model)
    logits = fast.prefill(x, mask, extra=4)
    rows = torch.tensor(rows)  # several samples of prompts 0 and 2, one of prompt 1
    fast.select(rows)
    with torch.no_grad():
        ref = model(input_ids=x, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits[:, -1]
    assert torch.allclose(logits, ref, atol=1e-4)
    tokens = torch.arange(5, 5 + len(rows))
    seqs, masks = x[rows], mask[rows]
    for step in range(3):
        positions = masks.sum(-1)
        out = fast.step(tokens, positions)
        seqs = torch.cat([seqs, tokens[:, None]], dim=-1)
        masks = torch.cat([masks, torch.ones_like(tokens)[:, None]], dim=-1)
        with torch.no_grad():
            ref = model(input_ids=seqs, attention_mask=masks,
                        position_ids=(masks.cumsum(-1) - 1).clamp(min=0)).logits[:, -1]
        assert torch.allclose(out, ref, atol=1e-4), step
        tokens = out.argmax(-1)
        if step == 1:  # rows leave the batch: the rest go on from the same state
            keep = torch.tensor([0, 2, 3] if len(rows) == 5 else [0, 1, 2, 4, 5, 8])
            fast.select(keep)
            tokens, seqs, masks = tokens[keep], seqs[keep], masks[keep]


@pytest.mark.parametrize("rows_per_prompt", range(4, 9))
def test_prompt_attention_has_einsums_numbers_bit_for_bit(rows_per_prompt):
    """From BMM_ROWS queries per (prompt, head) the fused forward multiplies by keys it keeps transposed instead
    of calling einsum; that must be the very computation einsum does, or sampled plans (and every committed
    run's hashes) would change with the row count. A torch whose einsum takes another path fails here."""
    from iterdeploy.model.fast_llama import BMM_ROWS, prompt_scores

    assert BMM_ROWS <= rows_per_prompt  # the fused path runs at these row counts (fewer run einsum itself)
    gen = torch.Generator().manual_seed(rows_per_prompt)
    for prompts, length in ((1, 17), (5, 226), (16, 401)):
        queries = torch.randn(prompts, rows_per_prompt, 4, 1, 32, generator=gen)
        keys = torch.randn(prompts, 4, length, 32, generator=gen)
        reference = torch.einsum("pchrd,phtd->pchrt", queries, keys)
        fused = prompt_scores(queries, keys.transpose(-1, -2).contiguous())
        assert torch.equal(fused, reference), (prompts, length)


def test_transformers_forward_path_samples_the_same_plans(embedded, monkeypatch):
    """Models the fused forward does not cover decode with transformers' forward: same samples."""
    from iterdeploy.model import decoding, fast_llama

    folder, prompts = embedded
    model, tok = load_model(folder)
    cfg = SamplingConfig(k=3, temperature=1.0, top_p=1.0, max_new_tokens=16, batch_size=4, seed=3)
    fast = decoding.generate(model, tok, prompts, cfg)
    monkeypatch.setattr(fast_llama, "supports", lambda m: False)
    assert isinstance(decoding.forward_for(model), decoding._TransformersForward)
    slow = decoding.generate(model, tok, prompts, cfg)
    same = sum(a["completion"] == b["completion"] for a, b in zip(fast, slow))
    assert same >= 0.9 * len(fast)  # float summation order may flip a near-tie
