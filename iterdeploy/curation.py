"""Curation: which validated samples become the next generation's training data.

Small pure functions on DataFrames, composed by `curate` (in the spirit of TRL's
data utilities): nothing here reads or writes files, and the result depends only
on the inputs (row order included: the output is sorted canonically).

The paper's rule is the default: keep valid plans only (`filter: valid`), one
plan per task, the shortest (`per_task: shortest`), accumulated over generations
1..g (`accumulate: true`). Every row keeps its origin: the generation, sample id
and model hash of the sample it came from.

Input (a validated-plans frame) needs the columns in `VALIDATED_REQUIRED`; the
output has exactly `CURATED_COLUMNS`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from iterdeploy.config import option

FILTERS = ("valid", "none")
PER_TASK = ("shortest", "first", "random", "all")


@dataclass(frozen=True)
class CurationConfig:
    """Which validated samples become the next generation's training data (the paper's rule by default)."""

    filter: Literal["valid", "none"] = option("valid", "which samples may enter the dataset: valid plans only, or all")
    per_task: Literal["shortest", "first", "random", "all"] = option(
        "shortest", "plans kept per task: the shortest, the first found, a random one, or all")
    accumulate: bool = option(True, "merge with the previous generation's curated dataset (true) or use this "
                                    "generation's samples only")
    dedupe: bool = option(True, "drop repeated identical plans of a task (keeping the earliest)")
    seed: int = option(0, "seed of per_task: random", ge=0, lt=2**63)

VALIDATED_REQUIRED = ("task_id", "domain", "size", "generation", "sample_index", "sample_id", "model_hash",
                      "plan", "plan_length", "valid")

CURATED_COLUMNS: dict[str, str] = {
    "task_id": "string",
    "domain": "string",
    "size": "int64",
    "plan": "string",
    "plan_length": "int64",
    "valid": "bool",
    "origin_generation": "int64",
    "origin_sample_index": "int64",
    "origin_sample_id": "string",
    "origin_model_hash": "string",
}
"""Column -> pandas dtype of a curated dataset. `plan` is the plan in IPC format, one action per line."""

_ORDER = ["task_id", "origin_generation", "origin_sample_index", "origin_sample_id"]


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """`df` restricted to CURATED_COLUMNS in their order and dtypes, sorted canonically, index 0..n-1."""
    out = pd.DataFrame({c: df[c] if c in df.columns else pd.Series([], dtype=t) for c, t in CURATED_COLUMNS.items()})
    out = out.astype(CURATED_COLUMNS)
    return out.sort_values(_ORDER, kind="mergesort").reset_index(drop=True)


def empty() -> pd.DataFrame:
    """A curated dataset with no rows (generation 0's, before any deployment)."""
    return typed(pd.DataFrame())


def candidates(validated: pd.DataFrame) -> pd.DataFrame:
    """Validated samples as curated rows, with their origin (generation, sample index and id, model hash)."""
    missing = [c for c in VALIDATED_REQUIRED if c not in validated.columns]
    if missing:
        raise ValueError(f"validated plans lack columns {', '.join(missing)}")
    df = validated.rename(columns={
        "generation": "origin_generation", "sample_index": "origin_sample_index",
        "sample_id": "origin_sample_id", "model_hash": "origin_model_hash",
    })
    return typed(df)


def filter_plans(df: pd.DataFrame, rule: str = "valid") -> pd.DataFrame:
    """`valid`: keep valid plans only; `none`: keep every sample."""
    if rule == "valid":
        return df[df["valid"]].reset_index(drop=True)
    if rule == "none":
        return df
    raise ValueError(f"filter {rule!r} is not one of {'|'.join(FILTERS)}")


def dedupe(df: pd.DataFrame) -> pd.DataFrame:
    """Drop repeated identical plans of the same task, keeping the earliest (generation, sample index)."""
    df = df.sort_values(_ORDER, kind="mergesort")
    return df.drop_duplicates(["task_id", "plan"], keep="first").reset_index(drop=True)


def random_key(seed: int, generation: int, sample_id: str) -> str:
    """The sort key of `per_task: random`: a hash, so the choice is independent of row order and platform."""
    return hashlib.sha256(f"{seed}/{generation}/{sample_id}".encode()).hexdigest()


def select_per_task(df: pd.DataFrame, rule: str = "shortest", seed: int = 0, generation: int = 0) -> pd.DataFrame:
    """Keep plans per task by `rule`.

    shortest: the shortest plan; ties go to the earliest (generation, sample index).
    first:    the earliest (generation, sample index).
    random:   one chosen by a hash of (seed, generation, sample id).
    all:      every plan.
    """
    if rule == "all":
        return typed(df)
    if rule == "shortest":
        ordered = df.sort_values(["task_id", "plan_length", "origin_generation", "origin_sample_index",
                                  "origin_sample_id"], kind="mergesort")
    elif rule == "first":
        ordered = df.sort_values(_ORDER, kind="mergesort")
    elif rule == "random":
        keys = df["origin_sample_id"].map(lambda s: random_key(seed, generation, s))
        ordered = df.assign(_key=keys).sort_values(["task_id", "_key"], kind="mergesort").drop(columns="_key")
    else:
        raise ValueError(f"per_task {rule!r} is not one of {'|'.join(PER_TASK)}")
    return typed(ordered.drop_duplicates("task_id", keep="first"))


def merge(previous: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """The union of the previous curated dataset and this generation's candidates."""
    if previous is None or previous.empty:
        return typed(new)
    if new.empty:
        return typed(previous)
    return typed(pd.concat([typed(previous), typed(new)], ignore_index=True))


def curate(validated: pd.DataFrame, previous: pd.DataFrame | None, cfg: CurationConfig = CurationConfig(),
           generation: int = 0) -> pd.DataFrame:
    """Generation `generation`'s curated dataset from its validated samples and generation g-1's dataset.

    filter -> (merge with previous, if accumulate) -> dedupe -> select per task. The previous
    dataset passes through the same rule again, so with `shortest` a shorter plan found later
    replaces an earlier one, and with `first` the earliest plan stays.
    """
    pool = filter_plans(candidates(validated), cfg.filter)
    if cfg.accumulate:
        pool = merge(None if previous is None else filter_plans(typed(previous), cfg.filter), pool)
    if cfg.dedupe:
        pool = dedupe(pool)
    return select_per_task(pool, cfg.per_task, cfg.seed, generation)


def rule_violations(df: pd.DataFrame, cfg: CurationConfig) -> list[str]:
    """What is wrong with a curated dataset under `cfg` (empty list: nothing). Run by the curation stage
    on what it writes, and reported by Dagster's check: an invalid plan under `filter: valid`, more than
    one plan of a task under a one-per-task rule, a repeated plan under `dedupe`."""
    problems = []
    if cfg.filter == "valid" and len(df) and not df["valid"].all():
        problems.append(f"{int((~df['valid']).sum())} invalid plans although filter is 'valid'")
    if cfg.per_task != "all" and df["task_id"].duplicated().any():
        problems.append(f"tasks with more than one plan although per_task is {cfg.per_task!r}")
    if cfg.dedupe and df.duplicated(["task_id", "plan"]).any():
        problems.append("repeated identical plans although dedupe is true")
    return problems


def summary(df: pd.DataFrame) -> dict:
    """Counts for logs and metadata: rows, tasks, valid rows, plans per origin generation, mean length."""
    return {
        "rows": int(len(df)),
        "tasks": int(df["task_id"].nunique()) if len(df) else 0,
        "valid": int(df["valid"].sum()) if len(df) else 0,
        "by_origin_generation": {str(int(g)): int(n) for g, n in df["origin_generation"].value_counts().sort_index().items()},
        "mean_plan_length": float(df["plan_length"].mean()) if len(df) else None,
    }
