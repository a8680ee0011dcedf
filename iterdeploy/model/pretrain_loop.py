"""Pre-training of the embedded base on the task stream: a plain, deterministic torch loop.

Why not the Trainer used for fine-tuning: the data is an endless stream, batches are built by
length from a window of the stream (little padding without a length-sorted dataset), and the
whole run must be byte-reproducible on CPU for a seed and a thread count. The loop is AdamW with
linear warm-up and cosine decay, gradient clipping at 1, completion-only loss.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from iterdeploy.config import option
from iterdeploy.model.data import CompletionCollator, pad_id_of, tokenize_example
from iterdeploy.model.stream import Example
from iterdeploy.prompts.compact import ROOT_TYPE


@dataclass(frozen=True)
class LoopConfig:
    """The optimisation of a pre-training run."""

    steps: int = option(2000, "optimizer steps", ge=1, le=10_000_000)
    batch_size: int = option(32, "examples per step", ge=1, le=1 << 16)
    lr: float = option(3e-3, "peak learning rate", gt=0, le=10)
    min_lr_ratio: float = option(0.1, "the cosine decays to this fraction of lr", ge=0, le=1)
    warmup_steps: int = option(100, "linear warm-up from 0 to lr over this many steps", ge=0, le=10_000_000)
    weight_decay: float = option(0.01, "AdamW weight decay (matrices only)", ge=0, le=10)
    window: int = option(16, "batches drawn from the stream at once and sorted by length before they are "
                             "shuffled (less padding)", ge=1, le=4096)
    seed: int = option(0, "initialisation and batch order", ge=0, lt=2**32)
    log_every: int = option(100, "steps between loss-curve points (and log lines)", ge=1)
    position_gaps: int = option(0, "in half of the examples, random extra positions (0..N) before each fact and "
                                   "action, so that training shows the distances of longer tasks; sampling uses "
                                   "consecutive positions, as the other half; 0: off", ge=0, le=64)


def learning_rate(cfg: LoopConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def unit_starts(tokenizer) -> frozenset[int]:
    """Token ids that begin a fact or an action in the compact format: every word but the object names."""
    return frozenset(i for w, i in tokenizer.get_vocab().items() if not w.startswith(ROOT_TYPE) or not w[len(ROOT_TYPE):].isdigit())


def gapped_positions(ids: list[int], starts: frozenset[int], gaps: int, rng: random.Random) -> list[int]:
    """Position ids that advance by 1 inside a fact or action and by 1 + a random 0..gaps before each one:
    local order stays exact, distances between facts vary."""
    positions, p = [], -1
    for i, t in enumerate(ids):
        p += 1 + (rng.randint(0, gaps) if i and t in starts else 0)
        positions.append(p)
    return positions


def batches(examples: Iterator[Example], tokenizer, cfg: LoopConfig) -> Iterator[tuple[list[dict], list[Example]]]:
    """Token rows in batches of `batch_size`: a window of batches at a time, sorted by length (little
    padding), then shuffled (no length order across steps)."""
    rng = random.Random(cfg.seed)
    starts = unit_starts(tokenizer) if cfg.position_gaps else frozenset()
    while True:
        window = [next(examples) for _ in range(cfg.batch_size * cfg.window)]
        rows = [tokenize_example(tokenizer, e.prompt, e.completion) for e in window]
        if cfg.position_gaps:
            for row in rows:
                gaps = cfg.position_gaps if rng.random() < 0.5 else 0
                row["position_ids"] = gapped_positions(row["input_ids"], starts, gaps, rng)
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i]["input_ids"]), i))
        chunks = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        rng.shuffle(chunks)
        for chunk in chunks:
            yield [rows[i] for i in chunk], [window[i] for i in chunk]


def _optimizer(model, cfg: LoopConfig) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))


def pretrain_loop(model, tokenizer, examples: Iterator[Example], cfg: LoopConfig,
                  log: Callable[[str], None] | None = None) -> dict:
    """Train `model` in place for `cfg.steps` steps; return the statistics a model card records."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    torch.manual_seed(cfg.seed)
    collator = CompletionCollator(pad_id_of(tokenizer))
    opt = _optimizer(model, cfg)
    model.train()
    curve: list[dict] = []
    seen: dict[str, int] = {}
    running, running_n = 0.0, 0
    start = time.perf_counter()
    stream = batches(examples, tokenizer, cfg)
    for step in range(cfg.steps):
        rows, exs = next(stream)
        for e in exs:
            key = f"{e.domain}/{e.size}"
            seen[key] = seen.get(key, 0) + 1
        lr = learning_rate(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = collator(rows)
        loss = model(**batch).loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"pre-training diverged at step {step + 1}: loss {loss.item()}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        running += loss.item()
        running_n += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.perf_counter() - start
            point = {"step": step + 1, "loss": round(running / running_n, 5), "lr": lr,
                     "tokens": collator.tokens}
            curve.append(point)
            log(f"  pretrain step {step + 1}/{cfg.steps} loss {point['loss']:.4f} lr {lr:.2e} "
                f"({collator.tokens / elapsed:.0f} tokens/s, {elapsed:.0f} s)")
            running, running_n = 0.0, 0
    model.eval()
    wall = time.perf_counter() - start
    return {"steps": cfg.steps, "examples": cfg.steps * cfg.batch_size, "examples_by_domain_size": seen,
            "train_tokens": collator.tokens, "padded_tokens": collator.padded_tokens,
            "loss_curve": curve, "final_loss": curve[-1]["loss"] if curve else None,
            "wall_time_s": round(wall, 1), "train_tokens_per_s": round(collator.tokens / wall, 1)}
