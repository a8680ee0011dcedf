"""Benchmark: our batched KV-cache sampler against transformers' generate, same model, same prompts, one run.

Rows (task, sample) are drawn with temperature 1. Methods:

1. `iterdeploy` - `iterdeploy.model.decoding.generate` (length-sorted batches, shared prefill for the
   K samples of a prompt, finished rows leave the batch, the fused Llama forward);
   `iterdeploy, transformers forward` is the same loop on transformers' own forward (what models
   other than a plain Llama get);
2. `generate, one at a time` - a plain loop of `model.generate` per (prompt, sample); slow, so it runs on
   about `--loop-rows` rows spread over all prompts, and its tokens/s stands for the whole set;
3. `generate, batched` - `model.generate` on left-padded batches of `--batch-size` rows, default settings.

Times are CPU seconds of this process (`time.process_time`, one torch thread by default): on a shared
machine they measure the work, where wall-clock seconds would measure the neighbours. Tokens counted
are generated tokens up to and including the stop token. A random model (the
default) rarely stops, so every row runs to --max-new-tokens; pass a trained model (--model DIR,
e.g. the shipped base) to see the effect of rows stopping early.

    python benchmarks/sample.py                         # random embedded model, ~1-2 minutes on one core
    python benchmarks/sample.py --model models/embedded-base --tasks 64 --k 4 --domains blocksworld,ferry,spanner
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def prompts_for(tokenizer, n: int, sizes: list[int], seed: int,
                domains=("blocksworld", "ferry", "miconic", "spanner")) -> list[tuple[str, str]]:
    from iterdeploy.planning import task_from_text
    from iterdeploy.prompts import get_format
    from iterdeploy.tasks.domains import domain_text
    from iterdeploy.tasks.generators import generate_task

    fmt = get_format("compact", tokenizer)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        domain = domains[i % len(domains)]
        task = task_from_text(domain_text(domain), generate_task(domain, sizes[i % len(sizes)], rng).problem)
        out.append((f"t{i:03d}", fmt.prompt(task, i)))
    return out


def random_model(folder: Path) -> Path:
    from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model
    from iterdeploy.model.tokenizer import build_tokenizer, save_tokenizer

    cfg = EmbeddedModelConfig()
    tok = build_tokenizer(list(cfg.domains), cfg.max_objects)
    new_embedded_model(cfg, tok, seed=0).save_pretrained(folder)
    save_tokenizer(tok, folder)
    return folder


def generated_tokens(rows: torch.Tensor, stops: set[int], pad: int) -> int:
    """Tokens of each generated row up to and including its first stop token."""
    total = 0
    for row in rows.tolist():
        n = 0
        for t in row:
            n += 1
            if t in stops:
                break
        total += n
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="model folder (default: a random embedded model of the default size)")
    ap.add_argument("--tasks", type=int, default=32, help="prompts (default 32)")
    ap.add_argument("--k", type=int, default=4, help="samples per prompt (default 4)")
    ap.add_argument("--sizes", default="3,4,5,6,8,10", help="task sizes, cycled")
    ap.add_argument("--domains", default="blocksworld,ferry,spanner", help="task domains, cycled")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--loop-rows", type=int, default=16, help="rows for the one-at-a-time loop (default 16)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from iterdeploy.model import decoding
    from iterdeploy.model.loading import load_model
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.sampling_config import SamplingConfig
    from iterdeploy.model.tokenizer import encode_prompt, stop_token_ids

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or random_model(Path(tmp) / "model")
        model, tok = load_model(folder, Runtime(threads=args.threads))
    prompts = prompts_for(tok, args.tasks, [int(s) for s in args.sizes.split(",")], args.seed,
                          args.domains.split(","))
    stops = stop_token_ids(tok, model.generation_config)
    pad = tok.pad_token_id
    rows = [(p, s) for p in range(len(prompts)) for s in range(args.k)]
    ids = [encode_prompt(tok, prompts[p][1]) for p, _ in rows]
    common = dict(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=args.max_new_tokens,
                  pad_token_id=pad, eos_token_id=stops)
    results = []

    cfg = SamplingConfig(k=args.k, temperature=1.0, top_p=1.0, max_new_tokens=args.max_new_tokens,
                         batch_size=args.batch_size, seed=args.seed)
    start = time.process_time()
    out = decoding.generate(model, tok, prompts, cfg)
    wall = time.process_time() - start
    results.append(("iterdeploy (batched, KV cache, shrinking, fused Llama forward)", len(rows),
                    sum(r["completion_tokens"] for r in out), wall))
    fast = decoding.fast_llama.supports
    decoding.fast_llama.supports = lambda m: False
    try:
        start = time.process_time()
        slow = decoding.generate(model, tok, prompts, cfg)
        wall = time.process_time() - start
    finally:
        decoding.fast_llama.supports = fast
    same = sum(a["completion"] == b["completion"] for a, b in zip(out, slow))
    results.append((f"iterdeploy, transformers forward (same samples: {same}/{len(out)})", len(rows),
                    sum(r["completion_tokens"] for r in slow), wall))

    torch.manual_seed(args.seed)
    subset = list(range(len(rows)))[::max(1, len(rows) // args.loop_rows)]  # spread over all prompt lengths
    n_loop = len(subset)
    start, tokens = time.process_time(), 0
    with torch.no_grad():
        for i in subset:
            x = torch.tensor([ids[i]])
            y = model.generate(x, attention_mask=torch.ones_like(x), **common)[:, x.shape[1]:]
            tokens += generated_tokens(y, set(stops), pad)
    results.append((f"generate, one at a time ({n_loop} rows)", n_loop, tokens, time.process_time() - start))

    torch.manual_seed(args.seed)
    order = sorted(range(len(rows)), key=lambda i: len(ids[i]))  # generate's best case: little padding
    start, tokens = time.process_time(), 0
    with torch.no_grad():
        for b in range(0, len(order), args.batch_size):
            chunk = [ids[i] for i in order[b:b + args.batch_size]]
            width = max(map(len, chunk))
            x = torch.tensor([[pad] * (width - len(c)) + c for c in chunk])
            mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
            y = model.generate(x, attention_mask=mask, **common)[:, width:]
            tokens += generated_tokens(y, set(stops), pad)
    results.append(("generate, batched (length-sorted, left-padded)", len(rows), tokens, time.process_time() - start))

    loop_rate = results[2][2] / results[2][3]
    batched_rate = results[3][2] / results[3][3]
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {folder if args.model else 'random embedded (default config)'}, {params:,} parameters; "
          f"{len(prompts)} prompts ({args.domains}; sizes {args.sizes}) x k={args.k}, "
          f"max_new_tokens={args.max_new_tokens}, "
          f"batch {args.batch_size}, {args.threads} thread(s), torch {torch.__version__}")
    print()
    print("| method | rows | generated tokens | CPU seconds | tokens per CPU second | vs one at a time | vs batched generate |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, tokens, wall in results:
        rate = tokens / wall
        print(f"| {name} | {n} | {tokens} | {wall:.2f} | {rate:,.0f} | {rate / loop_rate:.1f}x | "
              f"{rate / batched_rate:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
