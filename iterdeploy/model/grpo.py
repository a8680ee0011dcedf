"""GRPO-style policy-gradient updates with an explicit reward: the RL baseline beside the loop.

Each step samples `group_size` completions for each of `prompts_per_step` prompts with the same batched
sampler as deployment (iterdeploy.model.decoding), scores them with a reward function (for the loop's
tasks, the validator's 0/1 verdict: iterdeploy.rl.validator_reward), turns the rewards into group-relative
advantages (`advantages`) and takes one AdamW step on

    loss = - sum_i A_i * sum_t log pi(o_i,t | q_i, o_i,<t) / sum_i |o_i|

(the token-level mean of DAPO and TRL's default `loss_type`). One update per batch of samples, so the
PPO ratio is 1 and its clipping never acts: this is REINFORCE with a per-prompt baseline (the group
mean), no KL term (beta = 0, TRL's default) and no reference model. Why not TRL's GRPOTrainer:
docs/rl.md has the measurement (its generation runs transformers' `generate`, which here is several
times slower than the sampler the loop uses, and sampling is most of a step).

`advantages` and `policy_loss` are small pure functions; `grpo_step` is one step on an in-memory model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal

import torch

from iterdeploy.config import option
from iterdeploy.model import decoding
from iterdeploy.model.data import pad_id_of
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.model.tokenizer import encode_prompt, stop_token_ids


@dataclass(frozen=True)
class GRPOConfig:
    """The policy-gradient updates (sampling itself follows a SamplingConfig: the loop's deployment sampler)."""

    trainer: Literal["torch", "trl"] = option(
        "torch", "torch: this module's step (the loop's batched sampler); trl: TRL's GRPOTrainer (transformers' "
                 "generate; the optional `rl` extra), the same update (iterdeploy.model.grpo_trl)")
    group_size: int = option(8, "completions per prompt and step (GRPO's G; the loop's K)", ge=2, le=4096)
    prompts_per_step: int = option(8, "prompts per step (a step samples prompts_per_step x group_size plans)",
                                   ge=1, le=1 << 16)
    lr: float = option(1e-4, "AdamW learning rate (constant after warm-up)", gt=0, le=10)
    warmup_steps: int = option(0, "linear learning-rate warm-up", ge=0, le=1 << 20)
    weight_decay: float = option(0.0, "AdamW weight decay", ge=0, le=10)
    max_grad_norm: float = option(1.0, "gradient clipping (0: off)", ge=0, le=1e6)
    scale_rewards: Literal["group", "none"] = option(
        "group", "group: advantages divided by the group's reward standard deviation (GRPO); none: only the "
                 "group mean subtracted (Dr. GRPO)")
    train_batch_size: int = option(64, "completions per forward/backward chunk (gradients accumulate over the "
                                       "step's chunks; memory only)", ge=1, le=1 << 16)
    seed: int = option(0, "prompt order and the sampling seed of every step", ge=0, lt=2**32)


def advantages(rewards: list[float], group_size: int, scale: str = "group", eps: float = 1e-4) -> list[float]:
    """Group-relative advantages: each reward minus its group's mean (consecutive groups of `group_size`),
    divided by the group's standard deviation (population, + eps) when `scale` is 'group'. A group whose
    rewards are all equal (all valid or all invalid) gets 0 everywhere: it carries no signal."""
    if len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards are not whole groups of {group_size}")
    out = []
    for i in range(0, len(rewards), group_size):
        g = torch.tensor(rewards[i:i + group_size], dtype=torch.float64)
        a = g - g.mean()
        if scale == "group":
            a = a / (g.std(unbiased=False) + eps)
        elif scale != "none":
            raise ValueError(f"scale {scale!r} is not one of group|none")
        out += [0.0 if abs(x) < 1e-12 else float(x) for x in a]
    return out


def sequence_logprobs(model, rows: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-probability of each row's completion tokens given its prompt, completion lengths), with
    gradients: rows are (prompt ids, completion ids), right-padded into one batch."""
    width = max(len(p) + len(c) for p, c in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    target = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (p, c) in enumerate(rows):
        ids[i, :len(p) + len(c)] = torch.tensor(p + c)
        mask[i, :len(p) + len(c)] = 1
        target[i, len(p):len(p) + len(c)] = True
    device = next(model.parameters()).device
    ids, mask, target = ids.to(device), mask.to(device), target.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    keep = target[:, 1:]
    return (logp * keep).sum(-1), keep.sum(-1)


def policy_loss(logp_sums: torch.Tensor, advantages: torch.Tensor, total_tokens: int) -> torch.Tensor:
    """- sum_i A_i * log pi(o_i) / (completion tokens of the whole step): the token-mean policy-gradient loss."""
    return -(advantages.to(logp_sums.dtype) * logp_sums).sum() / max(1, total_tokens)


def completion_ids(tokenizer, completion: str, finish_reason: str, stops: list[int]) -> list[int]:
    """The token ids a sampled completion was made of: its text re-encoded (the sampler drops special tokens
    when it decodes), plus eos when the row stopped on it (a stop that the text no longer shows)."""
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    if finish_reason == "stop" and (not ids or ids[-1] not in stops) and tokenizer.eos_token_id is not None:
        ids = ids + [tokenizer.eos_token_id]
    return ids


def grpo_step(model, tokenizer, optimizer, prompts: list[tuple[str, str]], reward: Callable[[str, str], float],
              sampling: SamplingConfig, cfg: GRPOConfig, scheduler=None) -> dict:
    """One step: `sampling.k` (= group size) completions per (task_id, prompt), rewards `reward(task_id,
    completion)`, advantages, one optimizer step. Returns the step's numbers (reward mean, loss, tokens,
    seconds sampling and training) and its samples (task_id, sample_index, completion, reward)."""
    t0 = time.perf_counter()
    model.eval()
    rows = decoding.generate(model, tokenizer, prompts, sampling)
    t1 = time.perf_counter()
    rewards = [float(reward(r["task_id"], r["completion"])) for r in rows]
    adv = advantages(rewards, sampling.k, cfg.scale_rewards)
    stops = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
    prompt_ids = {t: encode_prompt(tokenizer, p) for t, p in prompts}
    seqs = [(prompt_ids[r["task_id"]], completion_ids(tokenizer, r["completion"], r["finish_reason"], stops))
            for r in rows]
    total_tokens = sum(len(c) for _, c in seqs)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss_value, pad = 0.0, pad_id_of(tokenizer)
    active = [i for i, a in enumerate(adv) if a != 0.0]  # zero-advantage rows add nothing to the gradient
    for b in range(0, len(active), cfg.train_batch_size):
        chunk = active[b:b + cfg.train_batch_size]
        logp, _ = sequence_logprobs(model, [seqs[i] for i in chunk], pad)
        loss = policy_loss(logp, torch.tensor([adv[i] for i in chunk]), total_tokens)
        loss.backward()
        loss_value += float(loss.detach())
    grad_norm = None
    if active:
        if cfg.max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm))
        optimizer.step()
        if scheduler is not None:  # the schedule counts updates: a step without signal changes nothing
            scheduler.step()
    model.eval()
    t2 = time.perf_counter()
    samples = [{"task_id": r["task_id"], "sample_index": r["sample_index"], "completion": r["completion"],
                "reward": x} for r, x in zip(rows, rewards)]
    return {"samples": len(rows), "reward_mean": sum(rewards) / len(rewards), "valid": int(sum(rewards)),
            "groups_with_signal": len({rows[i]["task_id"] for i in active}), "loss": loss_value,
            "grad_norm": grad_norm, "completion_tokens": total_tokens, "sample_s": round(t1 - t0, 3),
            "train_s": round(t2 - t1, 3)}, samples
