"""`iterdeploy bootstrap`: train the embedded generation-0 model on the reference plans of the smallest tasks."""

from __future__ import annotations

import argparse
import json

from iterdeploy.model.config import POSITION_ENCODINGS, EmbeddedModelConfig, TrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bootstrap", help="train the embedded generation-0 model from scratch",
        description="Train a small Llama from scratch on reference plans of a task set's smallest tasks "
                    "(size <= --max-size), in the compact prompt format; write a model folder.",
    )
    p.add_argument("--tasks", required=True, metavar="TASKSET_DIR", help="task set folder (manifest.parquet)")
    p.add_argument("--out", required=True, metavar="DIR", help="model folder to write")
    p.add_argument("--split", default="train", help="split whose reference plans are learned (default: train)")
    p.add_argument("--max-size", type=int, default=5, help="learn only tasks of at most this size (default: 5)")
    p.add_argument("--domains", nargs="+", help="domains to learn (default: all in the split)")
    p.add_argument("--renamings", type=int, default=4,
                   help="object renamings per reference plan (default: 4; shows the model more object tokens)")
    e = EmbeddedModelConfig()
    p.add_argument("--hidden", type=int, default=e.hidden)
    p.add_argument("--layers", type=int, default=e.layers)
    p.add_argument("--heads", type=int, default=e.heads)
    p.add_argument("--intermediate", type=int, default=e.intermediate)
    p.add_argument("--position-encoding", choices=POSITION_ENCODINGS, default=e.position_encoding)
    p.add_argument("--max-objects", type=int, default=e.max_objects, help="object tokens per type")
    p.add_argument("--vocab-domains", nargs="+", default=list(e.domains),
                   help="domains the vocabulary covers (default: blocksworld ferry miconic spanner)")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps (default: 1500)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of the steps")
    p.add_argument("--scheduler", default="cosine")
    p.add_argument("--position-offset", type=int, default=0)
    p.add_argument("--group-by-length", action="store_true",
                   help="batch similar lengths together (less padding, but batches of one size only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.model import build_tokenizer, pretrain_embedded
    from iterdeploy.model.tasksets import load_tasks, reference_examples, select_rows
    from iterdeploy.prompts import get_format

    cfg = EmbeddedModelConfig(hidden=args.hidden, layers=args.layers, heads=args.heads,
                              intermediate=args.intermediate, position_encoding=args.position_encoding,
                              max_objects=args.max_objects, domains=tuple(args.vocab_domains))
    train = TrainConfig(method="full", lr=args.lr, max_steps=args.steps, batch_size=args.batch_size,
                        warmup_ratio=args.warmup, scheduler=args.scheduler, position_offset=args.position_offset,
                        group_by_length=args.group_by_length, seed=args.seed, threads=args.threads)
    tokenizer = build_tokenizer(list(cfg.domains), cfg.max_objects)
    fmt = get_format("compact", tokenizer)
    rows = select_rows(args.tasks, args.split, max_size=args.max_size, domains=args.domains)
    tasks = load_tasks(args.tasks, rows)
    examples = reference_examples(args.tasks, rows, fmt, tasks, renamings=args.renamings, seed=args.seed)
    print(f"bootstrap: {len(rows)} tasks (sizes {rows['size'].min()}-{rows['size'].max()}), "
          f"{len(examples)} examples, {args.steps} steps")
    out = pretrain_embedded(examples, cfg, train, args.out, tokenizer=tokenizer)
    card = json.loads((out / "model_card.json").read_text())
    print(f"bootstrap: {card['parameters']['total']:,} parameters, loss {card['loss_curve'][0]['loss']:.3f} -> "
          f"{card['final_loss']:.3f}, {card['wall_time_s']:.0f} s ({card['train_tokens_per_s']:.0f} tokens/s); "
          f"wrote {out}")
    return 0
