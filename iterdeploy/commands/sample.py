"""`iterdeploy sample`: K samples per task of a task-set split from a model folder; optionally validated.

Reads the project's configuration (`--params`): the model (model.path, model.prompt_format), the
sampling section and the runtime; `--section.field` flags override them for this command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iterdeploy.commands import add_config_arguments, add_project_arguments, load_project_params
from iterdeploy.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="sample plans from a model on a task set",
        description="Sample K completions per task of a task-set split with the project's sampling settings; "
                    "with --validate, check them and print success per domain and size.")
    add_project_arguments(p)
    p.add_argument("--model", metavar="DIR", help="model folder or LoRA adapter folder (default: model.path)")
    p.add_argument("--tasks", metavar="TASKSET_DIR", help="task set folder (default: paths.tasks)")
    p.add_argument("--split", help="split to sample (default: sampling.split)")
    p.add_argument("--min-size", type=int)
    p.add_argument("--max-size", type=int)
    p.add_argument("--per-size", type=int, help="first N tasks of each (domain, size)")
    p.add_argument("--domains", nargs="+")
    p.add_argument("--out", metavar="SAMPLES.parquet", help="write the samples (with verdicts if --validate)")
    p.add_argument("--validate", action="store_true", help="validate the plans and print success per size")
    add_config_arguments(p, ["model", "runtime", "sampling"])
    p.set_defaults(func=run)


def select(rows, min_size=None, max_size=None, domains=None, per_size=None):
    if min_size is not None:
        rows = rows[rows["size"] >= min_size]
    if max_size is not None:
        rows = rows[rows["size"] <= max_size]
    if domains:
        rows = rows[rows["domain"].isin(domains)]
    if per_size is not None:
        rows = rows.groupby(["domain", "size"], sort=False).head(per_size)
    if rows.empty:
        raise ConfigError("no tasks of the split have the given sizes and domains")
    return rows.reset_index(drop=True)


def success_by_size(validated):
    """Per (domain, size): tasks, share solved by any sample, share of valid samples, mean valid length."""
    per_task = validated.groupby(["domain", "size", "task_id"]).agg(solved=("valid", "any"), valid=("valid", "mean"))
    table = per_task.groupby(["domain", "size"]).agg(tasks=("solved", "size"), solved=("solved", "mean"),
                                                     valid_rate=("valid", "mean"))
    lengths = validated[validated["valid"]].groupby(["domain", "size"])["plan_length"].mean().rename("plan_length")
    return table.join(lengths).reset_index()


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from iterdeploy.artifacts import write_parquet
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.model.sampling import sample
    from iterdeploy.prompts import get_format
    from iterdeploy.prompts.examples import prompts_for, verdict_columns
    from iterdeploy.tasks.reader import TaskSetReader

    if not args.out and not args.validate:
        raise ConfigError("nothing to do: give --out SAMPLES.parquet and/or --validate")
    params = load_project_params(args)
    root = Path(args.root)
    model = Path(args.model) if args.model else root / params.model.path
    tasks = TaskSetReader(args.tasks or root / params.paths.tasks)
    fmt = get_format(params.model.prompt_format, load_tokenizer(model), params.model.enable_thinking)
    rows = select(tasks.split(args.split or params.sampling.split), args.min_size, args.max_size, args.domains,
                  args.per_size)
    prompts = prompts_for(fmt, tasks, rows)
    samples = sample(model, prompts, params.sampling, params.runtime, progress=sys.stderr.isatty())
    samples = samples.join(rows.set_index("task_id")[["domain", "size"]], on="task_id")
    if args.validate:
        samples = pd.concat([samples, verdict_columns(fmt, tasks, samples)], axis=1)
        table = success_by_size(samples)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        solved = samples.groupby("task_id")["valid"].any()
        print(f"solved {int(solved.sum())}/{len(solved)} tasks; finish: "
              f"{samples['finish_reason'].value_counts().to_dict()}")
    if args.out:
        write_parquet(args.out, samples)
        print(f"wrote {len(samples)} samples to {args.out}")
    return 0
