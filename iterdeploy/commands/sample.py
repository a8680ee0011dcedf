"""`iterdeploy sample`: K samples per task of a task-set split from a model folder; optionally validated."""

from __future__ import annotations

import argparse

from iterdeploy.errors import ConfigError
from iterdeploy.model.config import BACKENDS, SamplingConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="sample plans from a model",
        description="Sample K completions per task of a task-set split; with --validate, check them and print "
                    "success per task size.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="model folder or LoRA adapter folder")
    p.add_argument("--tasks", required=True, metavar="TASKSET_DIR")
    p.add_argument("--split", default="test")
    p.add_argument("--min-size", type=int)
    p.add_argument("--max-size", type=int)
    p.add_argument("--per-size", type=int, help="first N tasks of each (domain, size)")
    p.add_argument("--domains", nargs="+")
    p.add_argument("--format", default="auto", choices=["auto", "compact", "pddl-chat"],
                   help="prompt format (auto: compact for a word-level vocabulary, else pddl-chat)")
    p.add_argument("--prompt-seed", type=int, default=0, help="object renaming seed of the compact format")
    s = SamplingConfig()
    p.add_argument("--k", type=int, default=s.k)
    p.add_argument("--temperature", type=float, default=s.temperature)
    p.add_argument("--top-p", type=float, default=s.top_p)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--max-new-tokens", type=int, default=s.max_new_tokens)
    p.add_argument("--batch-size", type=int, default=s.batch_size)
    p.add_argument("--seed", type=int, default=s.seed)
    p.add_argument("--threads", type=int, default=s.threads)
    p.add_argument("--backend", choices=BACKENDS, default=s.backend)
    p.add_argument("--out", metavar="SAMPLES.parquet", help="write the samples (with verdicts if --validate)")
    p.add_argument("--validate", action="store_true", help="validate the plans and print success per size")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.artifacts import write_parquet
    from iterdeploy.model import sample
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.model.tasksets import load_tasks, select_rows, success_by_size, validate_samples
    from iterdeploy.model.tokenizer import vocab_max_objects
    from iterdeploy.prompts import get_format

    if not args.out and not args.validate:
        raise ConfigError("nothing to do: give --out SAMPLES.parquet and/or --validate")
    cfg = SamplingConfig(k=args.k, temperature=args.temperature, top_p=args.top_p, greedy=args.greedy,
                         max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, seed=args.seed,
                         threads=args.threads, backend=args.backend)
    tokenizer = load_tokenizer(args.model)
    name = args.format
    if name == "auto":
        name = "compact" if vocab_max_objects(tokenizer) is not None else "pddl-chat"
    fmt = get_format(name, tokenizer)
    rows = select_rows(args.tasks, args.split, args.min_size, args.max_size, args.domains, args.per_size)
    tasks = load_tasks(args.tasks, rows)
    prompts = [(tid, fmt.prompt(task, args.prompt_seed)) for tid, task in tasks.items()]
    samples = sample(args.model, prompts, cfg)
    if args.validate:
        samples = validate_samples(samples, fmt, tasks, args.prompt_seed)
        table = success_by_size(samples, rows)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        print(f"solved {samples.groupby('task_id')['valid'].any().mean():.3f} of {len(tasks)} tasks; "
              f"finish: {samples['finish_reason'].value_counts().to_dict()}")
    if args.out:
        write_parquet(args.out, samples)
        print(f"wrote {len(samples)} samples to {args.out}")
    return 0
