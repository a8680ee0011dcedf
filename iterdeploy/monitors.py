"""Collapse monitors of iterative deployment: small pure functions over one generation's frames.

Training on its own filtered samples can narrow a model: fewer distinct plans, a sharper (lower
entropy) distribution, samples that only repeat what it was already trained on, tasks it used to
solve and no longer does. These numbers go into every generation's metrics.json under `monitors`
(so `dvc exp show` compares them across experiments), the report, and Dagster's warning checks.
The deployment monitors of generation g describe the samples generation g is trained on, drawn
from model g-1; `lost_tasks` compares model g with model g-1 on the held-out tasks.
"""

from __future__ import annotations

import math

import pandas as pd


def distinct_valid_plans_per_task(validated: pd.DataFrame) -> float | None:
    """Mean number of distinct valid plans among the samples of each task with at least one."""
    valid = validated[validated["valid"]]
    return None if valid.empty else float(valid.groupby("task_id")["plan"].nunique().mean())


def length_ratio_to_reference(validated: pd.DataFrame, reference_length: pd.Series) -> float | None:
    """Mean length of the valid samples relative to their task's reference plan (task_id -> length)."""
    valid = validated[validated["valid"]]
    ref = valid["task_id"].map(reference_length).astype("float64")
    ratio = (valid["plan_length"].astype("float64") / ref)[ref > 0].dropna()
    return None if ratio.empty else float(ratio.mean())


def token_entropy(validated: pd.DataFrame) -> float | None:
    """Mean per-token entropy (nats) of the model's distribution over the deployment samples."""
    if "entropy" not in validated.columns:
        return None
    values = validated["entropy"].astype("float64").dropna()
    return None if values.empty else float(values.mean())


def self_copy_share(validated: pd.DataFrame, curated_before: pd.DataFrame | None) -> float | None:
    """Share of the valid samples that repeat a plan already in the curated set they were trained on."""
    valid = validated[validated["valid"]]
    if valid.empty:
        return None
    if curated_before is None or curated_before.empty:
        return 0.0
    known = set(zip(curated_before["task_id"], curated_before["plan"]))
    return float(sum((t, p) in known for t, p in zip(valid["task_id"], valid["plan"])) / len(valid))


def monitors(validated: pd.DataFrame, curated_before: pd.DataFrame | None, reference_length: pd.Series,
             lost_tasks: int | None) -> dict:
    """The `monitors` of a generation's metrics.json."""
    def rounded(x):
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 4)

    return {
        "distinct_valid_plans_per_task": rounded(distinct_valid_plans_per_task(validated)),
        "length_ratio_to_reference": rounded(length_ratio_to_reference(validated, reference_length)),
        "token_entropy": rounded(token_entropy(validated)),
        "self_copy_share": rounded(self_copy_share(validated, curated_before)),
        "lost_tasks": lost_tasks,
    }
