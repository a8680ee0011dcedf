"""The transformers sampling backend: batched decoding with a KV cache, seeded per (task, sample).

Design:
- jobs are (prompt, sample index) rows, sorted by prompt length so a batch pads little;
  the K rows of one prompt sit together, so each distinct prompt is prefilled once and
  its KV cache copied to its rows;
- Llama-architecture models (the embedded one, SmolLM2, ...) run a fused decode-only forward
  (fast_llama.py); others run transformers' forward with a cache that grows into preallocated
  buffers (kvcache.py), not by concatenation;
- left padding with an attention mask and explicit position ids (so RoPE models see
  the right positions); the prefill computes logits for the last position only;
- each step feeds one token per row through the cache; rows that stop (eos, or the
  compact format's 'end') leave the batch at once, so the batch shrinks as it runs;
- every row draws from its own random.Random seeded from (seed, task_id, sample_index),
  so a row's random stream does not depend on which rows share its batch.
"""

from __future__ import annotations

import random
import time

import torch
from tqdm.auto import tqdm

from iterdeploy.model import fast_llama
from iterdeploy.model.data import pad_id_of
from iterdeploy.model.kvcache import growing_cache
from iterdeploy.model.sampling_config import SamplingConfig, row_seed
from iterdeploy.model.tokenizer import encode_prompt, stop_token_ids


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each row's next-token distribution at temperature 1: the model's own uncertainty,
    whatever temperature samples from it (a collapse monitor of iterative deployment)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def choose_tokens(logits: torch.Tensor, rngs: list[random.Random], cfg: SamplingConfig) -> torch.Tensor:
    """Next token per row: argmax, or temperature + top-p sampling.

    Each row draws one uniform number from its own generator per step and inverts the cumulative
    distribution, so a row's samples do not depend on which rows share its batch (one vectorized
    search instead of a multinomial call per row)."""
    if cfg.greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / cfg.temperature, dim=-1)
    if cfg.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # Drop a token when the mass before it already reaches top_p (the top token always stays).
        sorted_p[(sorted_p.cumsum(-1) - sorted_p) >= cfg.top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
    cdf = probs.cumsum(-1)
    u = torch.tensor([[r.random()] for r in rngs], dtype=cdf.dtype, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_(max=probs.shape[-1] - 1)


class _TransformersForward:
    """transformers' own forward with a growing KV cache: for every model the fast path does not cover."""

    def __init__(self, model):
        self.model = model
        self.cache = None

    def prefill(self, ids: torch.Tensor, attention: torch.Tensor, extra: int) -> torch.Tensor:
        self.cache = growing_cache(self.model, extra)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=attention, position_ids=positions, cache=self.cache,
                         use_cache=True, logits_to_keep=1)
        self.cache = out.cache
        return out.logits[:, -1, :]

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=tokens[:, None], attention_mask=attention, position_ids=positions[:, None],
                         cache=self.cache, use_cache=True)
        self.cache = out.cache
        return out.logits[:, -1, :]

    def select(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)


def forward_for(model):
    """The forward pass decoding runs: the fast Llama path where it reproduces the model, else transformers'."""
    return fast_llama.FastLlama(model) if fast_llama.supports(model) else _TransformersForward(model)


@torch.no_grad()
def decode_batch(forward, prompt_ids: list[list[int]] | dict[int, list[int]], rows: list[int], seeds: list[int],
                 cfg: SamplingConfig, stop_ids: list[int], pad_id: int,
                 device: torch.device) -> list[tuple[list[int], str, float]]:
    """Generate for `rows` (indices into prompt_ids, a list or a dict by index; repeats allowed); (token ids,
    finish reason, summed entropy of the steps) per row."""
    distinct = list(dict.fromkeys(rows))
    width = max(len(prompt_ids[p]) for p in distinct)
    ids = torch.full((len(distinct), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(distinct), width), dtype=torch.long)
    for i, p in enumerate(distinct):
        n = len(prompt_ids[p])
        ids[i, width - n:] = torch.tensor(prompt_ids[p])
        mask[i, width - n:] = 1
    ids, mask = ids.to(device), mask.to(device)
    logits = forward.prefill(ids, mask, cfg.max_new_tokens)
    # Copy each prompt's cache and logits to its K rows.
    where = {p: i for i, p in enumerate(distinct)}
    expand = torch.tensor([where[p] for p in rows], device=device)
    forward.select(expand)
    logits, mask = logits[expand], mask[expand]
    next_pos = mask.sum(-1)
    # One mask for the whole run, sliced per step (new tokens are always attended to).
    mask = torch.cat([mask, mask.new_ones((len(rows), cfg.max_new_tokens))], dim=-1)
    rngs = [random.Random(s) for s in seeds]
    active = list(range(len(rows)))  # batch slot -> row; rows that finished stay in their slot until compaction
    done = [False] * len(rows)
    tokens: list[list[int]] = [[] for _ in rows]
    finish = ["length"] * len(rows)
    entropies = [0.0] * len(rows)
    stops = set(stop_ids)
    for _ in range(cfg.max_new_tokens):
        chosen = choose_tokens(logits, rngs, cfg)
        step_entropy = entropy(logits).tolist()
        for r, t, h in zip(active, chosen.tolist(), step_entropy):
            if done[r]:
                continue
            tokens[r].append(t)
            entropies[r] += h
            if t in stops:
                done[r], finish[r] = True, "stop"
            elif len(tokens[r]) >= cfg.max_new_tokens:
                done[r] = True
        keep = [j for j, r in enumerate(active) if not done[r]]
        if not keep:
            break
        # Finished rows leave the batch, so later steps cost less; compacting copies the cache, so wait until
        # an eighth of the batch has finished.
        if len(active) - len(keep) >= max(1, len(active) // 8):
            idx = torch.tensor(keep, device=device)
            forward.select(idx)
            mask, next_pos, chosen = mask[idx], next_pos[idx], chosen[idx]
            rngs = [rngs[j] for j in keep]
            active = [active[j] for j in keep]
        width += 1
        logits = forward.step(chosen, next_pos, mask[:, :width])
        next_pos = next_pos + 1
    return list(zip(tokens, finish, entropies))


def schedule(prompt_ids: list[list[int]], k: int, batch_size: int) -> list[list[tuple[int, int]]]:
    """The batches of (prompt index, sample index) jobs decoding runs, in order: sorted longest prompt first
    (memory trouble shows at once), so a prompt's K rows are consecutive and share its prefill. A batch's
    rows depend on its composition in the last bits of the floats (padding), so every executor runs these
    batches as they are: that is what makes a Ray run write the local run's bytes."""
    jobs = [(p, s) for p in range(len(prompt_ids)) for s in range(k)]
    jobs.sort(key=lambda j: (-len(prompt_ids[j[0]]), j))
    return [jobs[b:b + batch_size] for b in range(0, len(jobs), batch_size)]


def batch_seeds(prompts: list[tuple[str, str]], batch: list[tuple[int, int]], seed: int) -> list[int]:
    return [row_seed(seed, prompts[p][0], s) for p, s in batch]


class Decoder:
    """An in-memory model ready to decode batches of `schedule`."""

    def __init__(self, model, tokenizer):
        model.eval()
        self.forward = forward_for(model)
        self.device = next(model.parameters()).device
        self.stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
        self.pad_id = pad_id_of(tokenizer)

    def decode(self, prompt_ids: list[list[int]] | dict[int, list[int]], batch: list[tuple[int, int]],
               seeds: list[int], cfg: SamplingConfig) -> list[tuple[list[int], str, float]]:
        return decode_batch(self.forward, prompt_ids, [p for p, _ in batch], seeds, cfg, self.stop_ids, self.pad_id,
                            self.device)


def assemble(tokenizer, prompts: list[tuple[str, str]], prompt_ids: list[list[int]],
             results: dict[tuple[int, int], tuple[list[int], str, float]]) -> list[dict]:
    """The rows of decoded jobs, ordered by (prompt, sample index)."""
    rows = []
    for p, s in sorted(results):
        ids, reason, summed = results[(p, s)]
        rows.append({"task_id": prompts[p][0], "sample_index": s,
                     "completion": tokenizer.decode(ids, skip_special_tokens=True),
                     "prompt_tokens": len(prompt_ids[p]), "completion_tokens": len(ids), "finish_reason": reason,
                     "entropy": round(summed / max(1, len(ids)), 6)})
    return rows


def generate(model, tokenizer, prompts: list[tuple[str, str]], cfg: SamplingConfig,
             progress: bool = False) -> list[dict]:
    """Rows (task_id, sample_index, completion, prompt_tokens, completion_tokens, finish_reason, entropy: mean
    nats per generated token) of an in-memory model, ordered by (prompt, sample index); `sampling.sample` is
    the entry point for model folders."""
    decoder = Decoder(model, tokenizer)
    prompt_ids = [encode_prompt(tokenizer, p) for _, p in prompts]
    batches = schedule(prompt_ids, cfg.k, cfg.batch_size)
    results: dict[tuple[int, int], tuple[list[int], str, float]] = {}
    generated = 0
    start = time.perf_counter()
    with tqdm(total=sum(map(len, batches)), unit="sample", desc="sampling", disable=not progress) as bar:
        for batch in batches:
            outs = decoder.decode(prompt_ids, batch, batch_seeds(prompts, batch, cfg.seed), cfg)
            for job, out in zip(batch, outs):
                results[job] = out
                generated += len(out[0])
            bar.update(len(batch))
            bar.set_postfix(tok_s=f"{generated / (time.perf_counter() - start):.0f}")
    return assemble(tokenizer, prompts, prompt_ids, results)
