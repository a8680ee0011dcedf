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
from dataclasses import dataclass

import pandas as pd

from iterdeploy.config import option


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


# --------------------------------------------------------------------------- warnings


@dataclass(frozen=True)
class MonitorThresholds:
    """When a collapse monitor warns (the report's flags and Dagster's WARN checks); no stage reads these."""

    distinct_min_ratio: float = option(0.5, "warn when distinct valid plans per solved deployment task fall below "
                                            "this fraction of generation 1's (or no deployment sample is valid)",
                                       ge=0, le=1)
    entropy_min_ratio: float = option(0.5, "warn when the per-token entropy of the deployment samples falls below "
                                           "this fraction of generation 1's (the base model's samples)", ge=0, le=1)
    lost_max_share: float = option(0.25, "warn when a generation loses more than this share of the test tasks "
                                         "the previous generation solved (greedy)", ge=0, le=1)
    self_copy_max: float = option(0.9, "warn when at least this share of the valid deployment samples repeat a "
                                       "plan already in the curated set", ge=0, le=1)


ALARMS = ("distinct_plans", "entropy", "lost_tasks", "self_copy")
"""The warnings, in the order the report and Dagster list them."""


def alarms(history: list[dict], thresholds: MonitorThresholds = MonitorThresholds()) -> dict[int, dict[str, str | None]]:
    """Generation -> {alarm: one-line reason when it trips, else None} for every generation >= 1 of `history`:
    rows {generation, solved (greedy test tasks), monitors (metrics.json's)}, any order. Ratios are taken
    against generation 1 (the first deployment: the base model's own samples)."""
    rows = {int(r["generation"]): r for r in history}
    first = (rows.get(1) or {}).get("monitors") or {}
    out = {}
    for g in sorted(x for x in rows if x >= 1):
        m = rows[g].get("monitors") or {}
        found: dict[str, str | None] = dict.fromkeys(ALARMS)
        d, d1 = m.get("distinct_valid_plans_per_task"), first.get("distinct_valid_plans_per_task")
        if d is None and d1 is not None:
            found["distinct_plans"] = "no valid deployment sample (generation 1 had some)"
        elif d is not None and d1 and d < thresholds.distinct_min_ratio * d1:
            found["distinct_plans"] = (f"distinct valid plans per task {d:.2f} < {thresholds.distinct_min_ratio:g} x "
                                       f"generation 1's {d1:.2f}")
        h, h1 = m.get("token_entropy"), first.get("token_entropy")
        if h is not None and h1 and h < thresholds.entropy_min_ratio * h1:
            found["entropy"] = (f"token entropy {h:.3f} nats < {thresholds.entropy_min_ratio:g} x generation 1's "
                                f"{h1:.3f}")
        lost, before = m.get("lost_tasks"), (rows.get(g - 1) or {}).get("solved")
        if lost is not None and before and lost / before > thresholds.lost_max_share:
            found["lost_tasks"] = (f"lost {lost} of the {before} test tasks generation {g - 1} solved "
                                   f"(> {thresholds.lost_max_share:.0%})")
        s = m.get("self_copy_share")
        if s is not None and s >= thresholds.self_copy_max:
            found["self_copy"] = f"{s:.0%} of the valid samples repeat curated plans (>= {thresholds.self_copy_max:.0%})"
        out[g] = found
    return out
