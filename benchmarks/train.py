"""Benchmark: training tokens/s of `iterdeploy.model.training.train_model` (transformers Trainer).

Rows: the embedded model (default config) trained in full with random and length-grouped
batches, with LoRA, and with a plain PyTorch loop (same model, data, collator and optimizer)
that shows what the Trainer's machinery costs. Tokens counted are real (non-pad) tokens.

    python benchmarks/train.py                 # ~2 minutes on one core
    python benchmarks/train.py --steps 50 --batch-size 64 --threads 2
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402


def examples(tokenizer, n: int, sizes: list[int], seed: int) -> list[tuple[str, str]]:
    from iterdeploy.planning import task_from_text
    from iterdeploy.prompts import get_format
    from iterdeploy.tasks.domains import domain_text
    from iterdeploy.tasks.generators import generate_task

    fmt = get_format("compact", tokenizer)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        domain = ("blocksworld", "ferry", "spanner")[i % 3]
        gen = generate_task(domain, sizes[i % len(sizes)], rng)
        task = task_from_text(domain_text(domain), gen.problem)
        out.append((fmt.prompt(task, i), fmt.completion(task, list(gen.plan), i)))
    return out


def plain_loop(model, tokenizer, data, cfg) -> tuple[int, float]:
    """AdamW over the same batches with no Trainer: (real tokens, seconds)."""
    from iterdeploy.model.data import CompletionCollator, pad_id_of, tokenize_examples

    rows, _ = tokenize_examples(tokenizer, data, cfg.max_length)
    collate = CompletionCollator(pad_id_of(tokenizer))
    order = random.Random(cfg.seed).sample(range(len(rows)), len(rows))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    model.train()
    start = time.perf_counter()
    for step in range(cfg.max_steps):
        idx = [order[(step * cfg.batch_size + j) % len(order)] for j in range(cfg.batch_size)]
        loss = model(**collate([rows[i] for i in idx])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    return collate.tokens, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--examples", type=int, default=512)
    ap.add_argument("--sizes", default="3,4,5", help="task sizes of the examples, cycled")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from peft import get_peft_model

    from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model
    from iterdeploy.model.runtime import Runtime
    from iterdeploy.model.tokenizer import build_tokenizer
    from iterdeploy.model.training import TrainConfig, _lora_config, train_model

    ecfg = EmbeddedModelConfig()
    tok = build_tokenizer(list(ecfg.domains), ecfg.max_objects)
    data = examples(tok, args.examples, [int(s) for s in args.sizes.split(",")], 0)
    base = dict(lr=1e-3, max_steps=args.steps, batch_size=args.batch_size, seed=0)
    runtime = Runtime(threads=args.threads)
    runs = [
        ("full, random batches", TrainConfig(method="full", group_by_length=False, **base), False),
        ("full, length-grouped batches", TrainConfig(method="full", group_by_length=True, **base), False),
        ("LoRA r=16 (all projections), random batches", TrainConfig(method="lora", group_by_length=False, **base),
         False),
        ("full, plain PyTorch loop (no Trainer)", TrainConfig(method="full", group_by_length=False, **base), True),
    ]
    rows = []
    for name, cfg, plain in runs:
        model = new_embedded_model(ecfg, tok, seed=0)
        if cfg.method == "lora":
            model = get_peft_model(model, _lora_config(cfg))
        if plain:
            tokens, wall = plain_loop(model, tok, data, cfg)
            rows.append((name, cfg.max_steps, tokens, wall, None))
        else:
            stats = train_model(model, tok, data, cfg, runtime, progress=False)
            rows.append((name, stats["steps"], stats["train_tokens"], stats["wall_time_s"],
                         stats["padding_fraction"]))
    params = sum(p.numel() for p in new_embedded_model(ecfg, tok).parameters())
    print(f"embedded model (default config), {params:,} parameters; {args.examples} compact examples of sizes "
          f"{args.sizes} (3 domains); batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s), "
          f"torch {torch.__version__}")
    print()
    print("| run | steps | tokens | seconds | tokens/s | s/step | padding |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, steps, tokens, wall, pad in rows:
        pad_s = "-" if pad is None else f"{pad:.1%}"
        print(f"| {name} | {steps} | {tokens} | {wall:.1f} | {tokens / wall:,.0f} | {wall / steps:.3f} | {pad_s} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
