"""Task-set rows as model inputs: reference-plan examples, prompts, and validated samples per size.

Thin glue between iterdeploy.tasks (manifests), iterdeploy.prompts and the model
layer, used by the `bootstrap` and `sample` commands and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iterdeploy.errors import ConfigError
from iterdeploy.planning import Task, validate


def select_rows(taskset_dir: str | Path, split: str, min_size: int | None = None,
                max_size: int | None = None, domains: list[str] | None = None, per_size: int | None = None):
    """Manifest rows of one split, filtered by size and domain; the first `per_size` of each (domain, size)."""
    from iterdeploy.tasks.taskset import load_manifest

    rows = load_manifest(taskset_dir)
    rows = rows[rows["split"] == split]
    if min_size is not None:
        rows = rows[rows["size"] >= min_size]
    if max_size is not None:
        rows = rows[rows["size"] <= max_size]
    if domains:
        rows = rows[rows["domain"].isin(domains)]
    if per_size is not None:
        rows = rows.groupby(["domain", "size"], sort=False).head(per_size)
    if rows.empty:
        raise ConfigError(f"no tasks in split {split!r} of {taskset_dir} with the given sizes/domains")
    return rows.reset_index(drop=True)


def load_tasks(taskset_dir: str | Path, rows: pd.DataFrame) -> dict[str, Task]:
    from iterdeploy.tasks.taskset import load_taskset_task

    return {r["task_id"]: load_taskset_task(taskset_dir, r) for r in rows.to_dict("records")}


def plan_steps(plan_text: str) -> list[str]:
    """Actions of an IPC plan file, comments dropped."""
    return [s for s in (line.split(";", 1)[0].strip() for line in plan_text.splitlines()) if s]


def reference_examples(taskset_dir: str | Path, rows: pd.DataFrame, fmt, tasks: dict[str, Task],
                       renamings: int = 1, seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, completion) of each row's reference plan, written with `renamings` different object
    renamings (seeds seed, seed+1, ...): more renamings show the small model more of its object tokens."""
    examples = []
    for r in rows.to_dict("records"):
        if r["plan_path"] is None or pd.isna(r["plan_path"]):
            continue
        steps = plan_steps((Path(taskset_dir) / r["plan_path"]).read_text(encoding="utf-8"))
        task = tasks[r["task_id"]]
        for k in range(renamings):
            examples.append((fmt.prompt(task, seed + k), fmt.completion(task, steps, seed + k)))
    if not examples:
        raise ConfigError("no reference plans among the selected tasks")
    return examples


def validate_samples(samples: pd.DataFrame, fmt, tasks: dict[str, Task], seed: int = 0) -> pd.DataFrame:
    """The samples with `valid`, `plan_length`, `error` (verdict or completion problem) columns added."""
    valid, length, error = [], [], []
    for r in samples.to_dict("records"):
        task = tasks[r["task_id"]]
        verdict = validate(task, fmt.plan_from_completion(task, r["completion"], seed))
        valid.append(verdict.valid)
        length.append(verdict.length)
        error.append(None if verdict.valid else f"{verdict.error}: {verdict.message}")
    return samples.assign(valid=valid, plan_length=length, error=error)


def success_by_size(validated: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Per (domain, size): tasks, share solved by any sample, share of valid samples, mean valid plan length
    and mean reference length."""
    meta = rows[["task_id", "domain", "size", "reference_length"]]
    df = validated.merge(meta, on="task_id")
    per_task = df.groupby(["domain", "size", "task_id"]).agg(solved=("valid", "any"), samples=("valid", "size"),
                                                             valid=("valid", "sum")).reset_index()
    table = per_task.groupby(["domain", "size"]).agg(tasks=("task_id", "size"), solved=("solved", "mean"),
                                                     valid_samples=("valid", "sum"), samples=("samples", "sum"))
    table["valid_rate"] = table.pop("valid_samples") / table.pop("samples")
    lengths = df[df["valid"]].groupby(["domain", "size"])["plan_length"].mean().rename("plan_length")
    reference = df.drop_duplicates("task_id").groupby(["domain", "size"])["reference_length"].mean()
    return table.join(lengths).join(reference.rename("reference_length")).reset_index()
