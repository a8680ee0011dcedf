"""Task-set rows as model inputs and back: prompts, training examples, verdicts of completions.

One module for what every stage and one-off command does with a prompt format, so "the prompt of
task t" means the same thing everywhere: the renaming of a task's prompt is seeded by its id
(`renaming_seed`), in deployment, training and evaluation alike.
"""

from __future__ import annotations

import pandas as pd

from iterdeploy.planning import validate
from iterdeploy.seeds import derive_seed
from iterdeploy.tasks.reader import TaskSetReader

VERDICT_COLUMNS = {"plan": "string", "plan_length": "int64", "valid": "bool", "error": "string",
                   "error_step": "Int64", "error_line": "Int64", "error_atoms": "object", "error_message": "string"}
"""Columns (and dtypes) a completion's verdict adds to a row."""


def renaming_seed(task_id: str) -> int:
    """The object renaming seed of a task's prompt: the same in deployment, training and evaluation."""
    return derive_seed("prompt", task_id)


def plan_steps(plan_text: str) -> list[str]:
    """The actions of an IPC plan text, comments and blank lines dropped."""
    return [s for s in (line.split(";", 1)[0].strip() for line in str(plan_text).splitlines()) if s]


def prompts_for(fmt, tasks: TaskSetReader, rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(task_id, prompt) per row."""
    return [(tid, fmt.prompt(tasks.task(tid), renaming_seed(tid))) for tid in rows["task_id"]]


def training_examples(fmt, tasks: TaskSetReader, rows: pd.DataFrame, plan_column: str = "plan") -> list[tuple[str, str]]:
    """(prompt, completion) per row, the completion writing the row's plan."""
    out = []
    for tid, plan in zip(rows["task_id"], rows[plan_column]):
        seed = renaming_seed(tid)
        task = tasks.task(tid)
        out.append((fmt.prompt(task, seed), fmt.completion(task, plan_steps(plan), seed)))
    return out


def verdict_columns(fmt, tasks: TaskSetReader, rows: pd.DataFrame, completion_column: str = "completion") -> pd.DataFrame:
    """The plan each row's completion states (IPC text), its length and the validator's typed verdict."""
    out = []
    for tid, completion in zip(rows["task_id"], rows[completion_column]):
        task = tasks.task(tid)
        parsed = fmt.plan_from_completion(task, completion, renaming_seed(tid))
        v = validate(task, parsed)
        out.append({"plan": parsed.to_text(), "plan_length": len(parsed.steps), "valid": bool(v.valid),
                    "error": None if v.error is None else str(v.error), "error_step": v.step,
                    "error_line": v.line, "error_atoms": list(v.atoms), "error_message": v.message or None})
    return pd.DataFrame(out, index=rows.index, columns=list(VERDICT_COLUMNS)).astype(VERDICT_COLUMNS)
