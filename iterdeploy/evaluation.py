"""Evaluation metrics of one generation on the held-out test tasks.

Pure functions on a results frame (one row per decoded plan, `RESULT_COLUMNS`):
`mode` is 'greedy' (one per task) or 'sample' (k per task, for pass@k). Nothing
here decodes or reads files; the evaluation stage does that.

`headline(...)` is `runs/gen_NNN/metrics.json`, the few numbers compared across runs and DVC
experiments: solved test tasks (greedy) in all and per domain, pass@k, the longest valid plan,
the curated set's size. `history_row(...)` is one generation's row of history.json (the plots).
`metrics(...)` returns everything else, written as `runs/gen_NNN/details.json`:

    generation, tasks, k
    solved            {greedy, pass_at_k}: fraction of test tasks solved
    solved_count      {greedy, pass_at_k}
    by_domain         {domain: {tasks, greedy, pass_at_k, solved_greedy, longest_greedy}}
    by_size           {size: {tasks, greedy, pass_at_k}}
    by_domain_size    {domain: {size: {tasks, greedy, pass_at_k}}}
    longest_greedy    length of the longest valid greedy plan (null when none is valid)
    plan_length       {greedy|sample: {count, mean, median, min, max}} over valid plans
    longest_valid     {task_id, domain, size, length, mode} (null when nothing is valid)
    vs_reference      {compared, mean_ratio, median_ratio, at_most_reference, mean_excess} (valid greedy
                      plans, or the shortest valid sample when greedy is off, against the reference plan)
    vs_previous       {previous_generation, greedy|pass_at_k: {newly_solved, lost, n_newly_solved, n_lost}}
    errors            {error kind: count} over every decoded plan ('none' = valid)
"""

from __future__ import annotations

import math

import pandas as pd

RESULT_COLUMNS: dict[str, str] = {
    "task_id": "string",
    "domain": "string",
    "size": "int64",
    "reference_length": "Int64",
    "mode": "string",
    "sample_index": "int64",
    "completion": "string",
    "plan": "string",
    "plan_length": "int64",
    "valid": "bool",
    "error": "string",
}
"""Column -> dtype of an evaluation results frame (runs/gen_NNN/evaluation.parquet)."""

MODES = ("greedy", "pass_at_k")
REQUIRED = ("task_id", "domain", "size", "mode", "valid", "plan_length")
"""Columns a consumer of evaluation.parquet relies on."""


def typed_results(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({c: df[c] if c in df.columns else pd.Series([], dtype=t) for c, t in RESULT_COLUMNS.items()})
    out = out.astype(RESULT_COLUMNS)
    return out.sort_values(["task_id", "mode", "sample_index"], kind="mergesort").reset_index(drop=True)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (Chen et al. 2021); k is capped at n."""
    if n <= 0 or k <= 0:
        return 0.0
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def task_table(results: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per task: domain, size, reference_length, greedy (solved, NA without greedy decoding),
    greedy_length, n, c (valid samples), pass_at_k, solved_any_sample, best_sample_length."""
    tasks = (results[["task_id", "domain", "size", "reference_length"]]
             .drop_duplicates("task_id").set_index("task_id").sort_index())
    greedy = results[results["mode"] == "greedy"].drop_duplicates("task_id").set_index("task_id")
    samples = results[results["mode"] == "sample"]
    out = tasks.copy()
    has_greedy = len(greedy) > 0
    out["greedy"] = greedy["valid"].reindex(out.index).astype("boolean") if has_greedy else pd.NA
    out["greedy"] = out["greedy"].astype("boolean")
    glen = greedy["plan_length"].where(greedy["valid"]) if has_greedy else pd.Series(dtype="float64")
    out["greedy_length"] = glen.reindex(out.index).astype("Int64")
    grouped = samples.groupby("task_id")
    out["n"] = grouped.size().reindex(out.index, fill_value=0).astype("int64")
    out["c"] = grouped["valid"].sum().reindex(out.index, fill_value=0).astype("int64")
    out["pass_at_k"] = [pass_at_k(int(n), int(c), k) for n, c in zip(out["n"], out["c"])]
    out["solved_any_sample"] = out["c"] > 0
    best = samples[samples["valid"]].groupby("task_id")["plan_length"].min()
    out["best_sample_length"] = best.reindex(out.index).astype("Int64")
    return out


def solved_sets(table: pd.DataFrame) -> dict[str, set[str]]:
    """Task ids solved greedily and by at least one sample."""
    return {
        "greedy": set(table.index[table["greedy"].fillna(False).astype(bool)]),
        "pass_at_k": set(table.index[table["solved_any_sample"]]),
    }


def _rates(table: pd.DataFrame, has_greedy: bool, has_samples: bool) -> dict:
    n = len(table)
    return {
        "tasks": int(n),
        "greedy": float(table["greedy"].fillna(False).astype(bool).mean()) if has_greedy and n else None,
        "pass_at_k": float(table["pass_at_k"].mean()) if has_samples and n else None,
    }


def _domain_rates(table: pd.DataFrame, has_greedy: bool, has_samples: bool) -> dict:
    solved = table["greedy"].fillna(False).astype(bool)
    longest = table["greedy_length"].max() if has_greedy else pd.NA
    return {**_rates(table, has_greedy, has_samples), "solved_greedy": int(solved.sum()) if has_greedy else None,
            "longest_greedy": None if pd.isna(longest) else int(longest)}


def _length_stats(lengths: pd.Series) -> dict:
    lengths = lengths.dropna().astype("int64")
    if lengths.empty:
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None}
    return {"count": int(len(lengths)), "mean": float(lengths.mean()), "median": float(lengths.median()),
            "min": int(lengths.min()), "max": int(lengths.max())}


def metrics(results: pd.DataFrame, generation: int, k: int,
            previous_results: pd.DataFrame | None = None, previous_generation: int | None = None) -> dict:
    """The metrics of one generation (see the module doc); `previous_*` give the newly solved and lost tasks."""
    results = typed_results(results)
    table = task_table(results, k)
    has_greedy = bool((results["mode"] == "greedy").any())
    has_samples = bool((results["mode"] == "sample").any())
    rates = _rates(table, has_greedy, has_samples)
    by_domain = {str(d): _domain_rates(t, has_greedy, has_samples) for d, t in table.groupby("domain", sort=True)}
    by_size = {str(int(s)): _rates(t, has_greedy, has_samples) for s, t in table.groupby("size", sort=True)}
    by_domain_size = {str(d): {str(int(s)): _rates(ts, has_greedy, has_samples) for s, ts in t.groupby("size", sort=True)}
                      for d, t in table.groupby("domain", sort=True)}
    longest_greedy = table["greedy_length"].max() if has_greedy else pd.NA

    valid = results[results["valid"]]
    plan_length = {
        "greedy": _length_stats(valid[valid["mode"] == "greedy"]["plan_length"]),
        "sample": _length_stats(valid[valid["mode"] == "sample"]["plan_length"]),
    }
    longest = None
    if len(valid):
        row = valid.sort_values(["plan_length", "task_id", "mode", "sample_index"],
                                ascending=[False, True, True, True], kind="mergesort").iloc[0]
        longest = {"task_id": str(row["task_id"]), "domain": str(row["domain"]), "size": int(row["size"]),
                   "length": int(row["plan_length"]), "mode": str(row["mode"])}

    ours = table["greedy_length"] if has_greedy else table["best_sample_length"]
    both = pd.DataFrame({"ours": ours, "ref": table["reference_length"]}).dropna()
    both = both[both["ref"] > 0]
    if len(both):
        ratio = both["ours"].astype("float64") / both["ref"].astype("float64")
        vs_reference = {"compared": int(len(both)), "mean_ratio": float(ratio.mean()),
                        "median_ratio": float(ratio.median()),
                        "at_most_reference": float((both["ours"] <= both["ref"]).mean()),
                        "mean_excess": float((both["ours"] - both["ref"]).astype("float64").mean())}
    else:
        vs_reference = {"compared": 0, "mean_ratio": None, "median_ratio": None, "at_most_reference": None,
                        "mean_excess": None}

    vs_previous = None
    if previous_results is not None:
        now = solved_sets(table)
        before = solved_sets(task_table(typed_results(previous_results), k))
        vs_previous = {"previous_generation": previous_generation}
        for mode in MODES:
            new, lost = sorted(now[mode] - before[mode]), sorted(before[mode] - now[mode])
            vs_previous[mode] = {"n_newly_solved": len(new), "n_lost": len(lost), "newly_solved": new, "lost": lost}

    errors = results["error"].fillna("none").value_counts()
    return {
        "generation": int(generation),
        "tasks": int(len(table)),
        "k": int(k),
        "solved": {"greedy": rates["greedy"], "pass_at_k": rates["pass_at_k"]},
        "solved_count": {m: int(len(s)) for m, s in solved_sets(table).items()},
        "by_domain": by_domain,
        "by_size": by_size,
        "by_domain_size": by_domain_size,
        "plan_length": plan_length,
        "longest_greedy": None if pd.isna(longest_greedy) else int(longest_greedy),
        "longest_valid": longest,
        "vs_reference": vs_reference,
        "vs_previous": vs_previous,
        "errors": {str(e): int(n) for e, n in sorted(errors.items())},
    }


def not_worse(current: dict, previous: dict | None) -> tuple[bool, str]:
    """Whether generation g solves at least as many test tasks as g-1 (greedy, else pass@k), given their
    metrics.json (`headline`); and a one-line reason."""
    if previous is None:
        return True, "no previous generation"
    key = "solved" if current.get("solved") is not None and previous.get("solved") is not None else "pass_at_k"
    now, before = current.get(key), previous.get(key)
    if now is None or before is None:
        return True, "no comparable solved count"
    ok = now >= before
    return ok, (f"{key.replace('_at_k', '@k')} {now} of {current['tasks']} vs {before} in generation "
                f"{previous.get('generation')}" + ("" if ok else " (worse)"))


def headline(details: dict, curated_rows: int) -> dict:
    """The numbers of metrics.json: counts with their totals, per domain, and the longest valid plan."""
    by_domain = details["by_domain"]
    return {
        "generation": details["generation"],
        "solved": details["solved_count"]["greedy"] if details["solved"]["greedy"] is not None else None,
        "tasks": details["tasks"],
        "pass_at_k": None if details["solved"]["pass_at_k"] is None else round(details["solved"]["pass_at_k"], 4),
        "longest_plan": details["longest_greedy"],
        "curated": curated_rows,
        "by_domain": {d: {"solved": v["solved_greedy"], "tasks": v["tasks"], "longest_plan": v["longest_greedy"]}
                      for d, v in by_domain.items()},
    }


def history_row(details: dict) -> dict:
    """One generation's row of history.json: flat numbers for `dvc plots`, per domain for the progress plot."""
    lengths = details["plan_length"]
    return {
        "generation": details["generation"],
        "solved_greedy": details["solved"]["greedy"],
        "solved_pass_at_k": details["solved"]["pass_at_k"],
        "mean_length_greedy": lengths["greedy"]["mean"],
        "max_length": max([x for x in (lengths["greedy"]["max"], lengths["sample"]["max"]) if x is not None],
                          default=None),
        "length_ratio": details["vs_reference"]["mean_ratio"],
        "k": details["k"],
        "by_domain": {d: {"greedy": v["greedy"], "pass_at_k": v["pass_at_k"]} for d, v in details["by_domain"].items()},
    }


def solved_line(head: dict) -> str:
    """'solved 6/140 (blocksworld 4/60, ferry 2/60, spanner 0/20), longest plan 8, pass@k 0.062'."""
    parts = ", ".join(f"{d} {v['solved'] if v['solved'] is not None else '-'}/{v['tasks']}"
                      for d, v in head["by_domain"].items())
    solved = "-" if head["solved"] is None else head["solved"]
    longest = "-" if head["longest_plan"] is None else head["longest_plan"]
    k = "-" if head["pass_at_k"] is None else f"{head['pass_at_k']:.3f}"
    return f"solved {solved}/{head['tasks']} ({parts}), longest plan {longest}, pass@k {k}"
