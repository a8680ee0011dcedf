"""Checking a task set: every reference plan against the validator, summarised per domain and split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from iterdeploy.errors import IterdeployError
from iterdeploy.planning import validate
from iterdeploy.planning.pddl import read_file_bytes
from iterdeploy.tasks.taskset import load_manifest, load_taskset_task, taskset_file


@dataclass(frozen=True)
class PlanCheck:
    task_id: str
    valid: bool | None
    """None when the task has no reference plan."""
    length: int | None
    message: str = ""


def check_plans(taskset_dir: str | Path, manifest: pd.DataFrame | None = None) -> list[PlanCheck]:
    root = Path(taskset_dir)
    manifest = load_manifest(root) if manifest is None else manifest
    checks = []
    for row in manifest.itertuples(index=False):
        if pd.isna(row.plan_path):
            checks.append(PlanCheck(row.task_id, None, None))
            continue
        try:
            task = load_taskset_task(root, row)
            plan = taskset_file(root, row.plan_path, "plan_path")
            text = read_file_bytes(plan, "reference plan").decode("utf-8", errors="replace")
        except IterdeployError as exc:
            checks.append(PlanCheck(row.task_id, False, None, str(exc)))
            continue
        verdict = validate(task, text, strict=True)
        checks.append(PlanCheck(row.task_id, verdict.valid, verdict.length, "" if verdict.valid else str(verdict)))
    return checks


def summarize(manifest: pd.DataFrame, checks: list[PlanCheck]) -> pd.DataFrame:
    """One row per (domain, split), in manifest order."""
    df = manifest.reset_index(drop=True).copy()
    df["valid"] = [c.valid for c in checks]
    df["length"] = [c.length for c in checks]
    has_hash = "content_hash" in df.columns
    if has_hash:
        splits_of = df.groupby(["domain", "content_hash"])["split"].nunique()
        df["shared"] = [splits_of[(d, h)] > 1 for d, h in zip(df["domain"], df["content_hash"])]
    rows = []
    for (domain, split), g in df.groupby(["domain", "split"], sort=False):
        lengths = g["length"].dropna().astype(int)
        rows.append({
            "domain": domain, "split": split, "tasks": len(g),
            "sizes": f"{g['size'].min()}-{g['size'].max()}" if g["size"].nunique() > 1 else str(g["size"].iloc[0]),
            "plans": int(g["plan_path"].notna().sum()), "valid": int((g["valid"] == True).sum()),  # noqa: E712
            "mean_len": float(lengths.mean()) if len(lengths) else float("nan"),
            "max_len": int(lengths.max()) if len(lengths) else 0,
            "unique": int(g["content_hash"].nunique()) if has_hash else len(g),
            "shared": int(g["shared"].sum()) if has_hash else 0,
        })
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame) -> str:
    headers = ["domain", "split", "sizes", "tasks", "plans", "valid", "mean_len", "max_len", "unique", "shared"]
    cells = [[str(r["domain"]), str(r["split"]), r["sizes"], str(r["tasks"]), str(r["plans"]), str(r["valid"]),
              "-" if pd.isna(r["mean_len"]) else f"{r['mean_len']:.1f}", str(r["max_len"]), str(r["unique"]),
              str(r["shared"])] for _, r in summary.iterrows()]
    total = ["total", "", "", *(str(int(summary[c].sum())) for c in ("tasks", "plans", "valid")), "", "",
             str(int(summary["unique"].sum())), str(int(summary["shared"].sum()))]
    widths = [max(len(h), *(len(c[i]) for c in cells + [total])) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.ljust(w) if i < 3 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(c) for c in cells), rule, line(total)]) + "\n"
