"""Report of a run: tables, plots and a Markdown summary across generations, read from the artifacts.

Reads only what the stages wrote (`iterdeploy.pipeline.layout` paths under a project root); never runs anything.
A generation is in the report once its metrics.json exists: the evaluation stage writes that file last,
so its presence means evaluation.parquet is complete. Generations in params.yaml without it are
listed as pending (a run still in progress).

    open_run(root)                     the run's layout, evaluated and pending generations
    task_results(run)                  one row per (generation, test task): greedy solved and plan length
    curated_rows(run)                  one row per curated training plan of every generation >= 1
    solved_table / longest_table / success_by_size / curated_growth / curated_by_origin
                                       pure tables over those two frames
    write_report(root, out_dir)        success_heatmap.png, solved_counts.png, plan_lengths.png,
                                       curated_growth.png, summary.md, summary.json
    compare_runs / write_comparison    named runs side by side: ablations.md, ablations.png

Counts are of greedy test plans (`mode == 'greedy'` in evaluation.parquet), the paper's headline.
Output is byte-stable (no timestamps), so the same artifacts give the same report.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from iterdeploy import evaluation as evalmetrics
from iterdeploy import monitors as collapse
from iterdeploy import rl
from iterdeploy.artifacts import read_json, read_parquet, write_bytes, write_json, write_text
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.layout import Layout, gen_name
from iterdeploy.pipeline.params import PARAMS_FILE, Paths, load_params
from iterdeploy.report import plots
from iterdeploy.report.markdown import ablations_markdown, rl_markdown, summary_markdown

EVALUATION_COLUMNS = ("task_id", "domain", "size", "reference_length", "mode", "valid", "plan_length")
"""Columns of evaluation.parquet the report reads (see evaluation.RESULT_COLUMNS)."""
DEPLOYMENT_COLUMNS = ("task_id", "valid", "plan_length")
"""Columns of validated_plans.parquet the report reads."""
CURATED_COLUMNS = ("task_id",)
"""Required columns of curated_dataset.parquet; `origin_generation` is used when present."""
TOTAL = "total"
DEFAULT_OUT = "reports"
FIGURES = ("success_heatmap.png", "solved_counts.png", "plan_lengths.png", "curated_growth.png", "monitors.png")
RL_FIGURES = ("rl_landscape.png", "rl_weights.png")
MONITORS = ("distinct_valid_plans_per_task", "length_ratio_to_reference", "token_entropy", "self_copy_share",
            "lost_tasks")
"""The collapse monitors of metrics.json (iterdeploy.monitors), in the report's column order."""


@dataclass(frozen=True)
class Run:
    root: Path
    layout: Layout
    generations: list[int]
    """Evaluated generations (metrics.json present), ascending; always starts with 0."""
    pending: list[int]
    """Configured generations not evaluated yet."""
    recorded: dict[str, str]
    """Output path -> md5 that dvc.lock records (every file the report reads is checked against it)."""
    unverified: list[str] = field(default_factory=list)
    """Files read that dvc.lock has no record of (a run outside DVC): reported as such, not refused."""
    thresholds: collapse.MonitorThresholds = field(default_factory=collapse.MonitorThresholds)
    """When the collapse monitors warn (params.yaml `monitors`; the defaults for a run without params)."""


def open_run(root: str | Path, params_file: str = PARAMS_FILE) -> Run:
    """The run under `root`: generations from params.yaml, or from the gen_NNN folders when it has none.

    """
    root = Path(root)
    path = root / params_file
    configured = path.is_file()
    params = load_params(path) if configured else None
    layout = Layout.of(params) if configured else Layout(Paths(), 0)
    if configured:
        candidates = [0] + params.gens
    else:
        names = (p.name for p in (root / layout.runs).glob("gen_*") if p.is_dir())
        candidates = sorted(int(n[4:]) for n in names if re.fullmatch(r"gen_\d{3}", n)) or [0]
    done = [g for g in candidates if (root / layout.metrics(g)).is_file()]
    if 0 not in done:
        raise IterdeployError("missing: generation 0 has not been evaluated, nothing to report",
                              root / layout.metrics(0))
    lock = dvc.read_lock(root)
    recorded = {path: md5 for stage in lock for path, md5 in dvc.locked_outs(lock, stage).items() if md5}
    return Run(root, layout, done, [g for g in candidates if g not in done], recorded,
               thresholds=params.monitors if configured else collapse.MonitorThresholds())


def _verified(run: Run, path: Path) -> None:
    """Refuse a file that differs from what dvc.lock records (forged or swapped behind DVC's back)."""
    rel = path.relative_to(run.root).as_posix()
    expected = run.recorded.get(rel)
    if expected is None:
        if rel not in run.unverified:
            run.unverified.append(rel)
        return
    actual = dvc.md5(path)
    if actual != expected:
        raise IterdeployError(f"differs from what dvc.lock records (md5 {actual[:12]} vs {expected[:12]}): it was "
                              "changed outside the pipeline; `iterdeploy run` restores or re-makes it", path)


def _as_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else open_run(run)


def _read(run: Run, path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    df = read_parquet(path, what, columns)
    _verified(run, path)
    return df


def _greedy_tasks(df: pd.DataFrame, gen: int, path: Path) -> pd.DataFrame:
    if not (df["mode"] == "greedy").any():
        raise IterdeployError("no greedy plans (evaluation.greedy was false?); the report counts greedy "
                              "test plans", path)
    try:  # the evaluation module's own per-task table, so "solved" means what metrics.json means
        table = evalmetrics.task_table(df, k=1).reset_index()
    except (TypeError, ValueError, KeyError) as exc:
        raise IterdeployError(f"malformed evaluation results ({type(exc).__name__}: {exc})", path) from None
    return pd.DataFrame({
        "generation": gen, "task_id": table["task_id"].astype(str), "domain": table["domain"].astype(str),
        "size": table["size"].astype("int64"), "solved": table["greedy"].fillna(False).astype(bool),
        "length": table["greedy_length"].astype("Int64"),
    })


def task_results(run: Run | str | Path) -> pd.DataFrame:
    """One row per (generation, test task): generation, task_id, domain, size, solved (the greedy plan
    is valid), length (of the valid greedy plan, NA otherwise)."""
    run = _as_run(run)
    frames = []
    for g in run.generations:
        path = run.root / run.layout.evaluation(g)
        df = _read(run, path, EVALUATION_COLUMNS, f"evaluation results of generation {g}")
        frames.append(_greedy_tasks(df, g, path))
    return pd.concat(frames, ignore_index=True)


def curated_rows(run: Run | str | Path) -> pd.DataFrame:
    """One row per training plan of every evaluated generation >= 1: generation, task_id,
    origin_generation (the generation whose sample it is; NA when the file has no such column)."""
    run = _as_run(run)
    frames = [pd.DataFrame({"generation": pd.Series([], dtype="int64"), "task_id": pd.Series([], dtype=str),
                            "origin_generation": pd.Series([], dtype="Int64")})]
    for g in (g for g in run.generations if g > 0):
        df = _read(run, run.root / run.layout.curated(g), CURATED_COLUMNS, f"curated dataset of generation {g}")
        origin = df["origin_generation"] if "origin_generation" in df.columns else pd.NA
        frames.append(pd.DataFrame({"generation": g, "task_id": df["task_id"].astype(str),
                                    "origin_generation": origin}).astype({"origin_generation": "Int64"}))
    return pd.concat(frames, ignore_index=True)


def deployment_rows(run: Run | str | Path) -> pd.DataFrame:
    """One row per deployment sample of every evaluated generation >= 1: generation, task_id,
    valid, plan_length: what each generation's model found on the deployment tasks."""
    run = _as_run(run)
    frames = [pd.DataFrame({"generation": pd.Series([], dtype="int64"), "task_id": pd.Series([], dtype=str),
                            "valid": pd.Series([], dtype=bool), "plan_length": pd.Series([], dtype="Int64")})]
    for g in (g for g in run.generations if g > 0):
        df = _read(run, run.root / run.layout.validated(g), DEPLOYMENT_COLUMNS, f"validated plans of generation {g}")
        frames.append(pd.DataFrame({"generation": g, "task_id": df["task_id"].astype(str),
                                    "valid": df["valid"].fillna(False).astype(bool),
                                    "plan_length": df["plan_length"].astype("Int64")}))
    return pd.concat(frames, ignore_index=True)


def monitor_history(run: Run | str | Path) -> list[dict]:
    """Per evaluated generation (0 included): {generation, solved (greedy test tasks), monitors (metrics.json's
    collapse monitors; {} for generation 0 and for a run that predates them)}."""
    run = _as_run(run)
    out = []
    for g in run.generations:
        path = run.root / run.layout.metrics(g)
        m = read_json(path, f"metrics of generation {g}")
        _verified(run, path)
        if not isinstance(m, dict) or not isinstance(m.get("monitors", {}), dict):
            raise IterdeployError("not a metrics file (a mapping with 'monitors')", path)
        out.append({"generation": g, "solved": m.get("solved"), "monitors": m.get("monitors") or {}})
    return out


def deployment_samples(run: Run | str | Path) -> pd.DataFrame:
    """One row per deployment sample of every evaluated generation >= 1, with what `rl.success_probabilities`
    reads: generation, task_id, domain, size, valid."""
    run = _as_run(run)
    frames = [pd.DataFrame({c: pd.Series([], dtype=t) for c, t in
                            (("generation", "int64"), ("task_id", str), ("domain", str), ("size", "int64"),
                             ("valid", bool))})]
    for g in (g for g in run.generations if g > 0):
        df = _read(run, run.root / run.layout.validated(g), rl.SAMPLE_COLUMNS, f"validated plans of generation {g}")
        frames.append(pd.DataFrame({"generation": g, "task_id": df["task_id"].astype(str),
                                    "domain": df["domain"].astype(str), "size": df["size"].astype("int64"),
                                    "valid": df["valid"].fillna(False).astype(bool)}))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- tables (pure)


def monitors_table(history: list[dict], thresholds: collapse.MonitorThresholds = collapse.MonitorThresholds()
                   ) -> pd.DataFrame:
    """Per generation >= 1 (the index): the five monitors, lost_share (lost tasks / the previous generation's
    solved test tasks; NA when it solved none) and `alarms` (the names of the warnings that trip, see
    monitors.alarms, comma-separated; '' when none)."""
    tripped = collapse.alarms(history, thresholds)
    solved = {h["generation"]: h["solved"] for h in history}
    rows = []
    for h in sorted((h for h in history if h["generation"] >= 1), key=lambda h: h["generation"]):
        g, m = h["generation"], h["monitors"]
        before = solved.get(g - 1)
        lost = m.get("lost_tasks")
        rows.append({"generation": g, **{k: m.get(k) for k in MONITORS},
                     "lost_share": (lost / before) if lost is not None and before else None,
                     "alarms": ",".join(a for a in collapse.ALARMS if tripped[g][a])})
    out = pd.DataFrame(rows, columns=["generation", *MONITORS, "lost_share", "alarms"]).set_index("generation")
    return out.astype({k: "float64" for k in MONITORS if k != "lost_tasks"} | {"lost_share": "float64"})


def deployment_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per generation >= 1: samples, valid (samples), tasks (deployed), solved (tasks with a valid sample),
    longest_valid (steps of the longest valid sample, NA when none)."""
    grouped = samples.groupby("generation")
    valid = samples[samples["valid"]].groupby("generation")
    return pd.DataFrame({
        "samples": grouped.size(), "valid": valid.size(), "tasks": grouped["task_id"].nunique(),
        "solved": valid["task_id"].nunique(), "longest_valid": valid["plan_length"].max(),
    }).fillna({"valid": 0, "solved": 0}).astype({"valid": "int64", "solved": "int64", "longest_valid": "Int64"})


def _with_total(per_domain: pd.DataFrame, total: pd.Series) -> pd.DataFrame:
    return pd.concat([per_domain, total.to_frame(TOTAL).T]).rename_axis("domain")


def solved_table(results: pd.DataFrame) -> pd.DataFrame:
    """Solved test tasks (greedy): rows are domains then 'total', columns generations."""
    by = results.pivot_table(index="domain", columns="generation", values="solved", aggfunc="sum", fill_value=0)
    by = by.astype("int64")
    return _with_total(by, by.sum())


def task_counts(results: pd.DataFrame) -> pd.Series:
    """Test tasks per domain and in total (the largest count over generations: they share one test split)."""
    by = results.groupby(["domain", "generation"])["task_id"].nunique().groupby("domain").max()
    return pd.concat([by, pd.Series({TOTAL: int(results.groupby("generation")["task_id"].nunique().max())})])


def longest_table(results: pd.DataFrame) -> pd.DataFrame:
    """Longest valid greedy plan: rows are domains then 'total', columns generations (NA: none valid)."""
    gens = sorted(results["generation"].unique())
    valid = results[results["solved"]]
    by = valid.pivot_table(index="domain", columns="generation", values="length", aggfunc="max")
    by = by.reindex(index=sorted(results["domain"].unique()), columns=gens).astype("Int64")
    return _with_total(by, by.max(skipna=True).astype("Int64")).astype("Int64")


def success_by_size(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (domain, size, generation): tasks, solved, success (solved fraction)."""
    out = results.groupby(["domain", "size", "generation"], sort=True).agg(
        tasks=("task_id", "nunique"), solved=("solved", "sum")).reset_index()
    out["solved"] = out["solved"].astype("int64")
    out["success"] = out["solved"] / out["tasks"]
    return out


def curated_growth(curated: pd.DataFrame, generations: list[int]) -> pd.DataFrame:
    """Per generation >= 1: rows (training plans) and tasks (distinct tasks) of its curated dataset."""
    gens = [g for g in generations if g > 0]
    grouped = curated.groupby("generation")
    out = pd.DataFrame({"rows": grouped.size(), "tasks": grouped["task_id"].nunique()})
    return out.reindex(pd.Index(gens, name="generation"), fill_value=0).astype("int64")


def curated_by_origin(curated: pd.DataFrame, generations: list[int]) -> pd.DataFrame:
    """Training plans per generation (rows) by the generation they were sampled in (columns); no
    columns when the curated files carry no origin."""
    gens = pd.Index([g for g in generations if g > 0], name="generation")
    known = curated.dropna(subset=["origin_generation"])
    if known.empty:
        return pd.DataFrame(index=gens)
    counts = known.groupby(["generation", "origin_generation"]).size().unstack(fill_value=0)
    return counts.reindex(gens, fill_value=0).astype("int64")


def ratio(first, last) -> float | None:
    """last / first, or None when either is missing or first is 0."""
    if pd.isna(first) or pd.isna(last) or first == 0:
        return None
    return float(last) / float(first)


# --------------------------------------------------------------------------- summary and files


def _by_gen(row: pd.Series) -> dict:
    return {str(int(g)): (None if pd.isna(v) else int(v)) for g, v in row.items()}


def _nullable(x):
    return None if x is None or pd.isna(x) else x


def monitors_summary(history: list[dict], thresholds: collapse.MonitorThresholds) -> dict:
    """summary.json's `monitors`: the thresholds, and per generation >= 1 the values and the warnings that trip."""
    table, tripped = monitors_table(history, thresholds), collapse.alarms(history, thresholds)
    per_gen = {}
    for g, r in table.iterrows():
        values = {k: _nullable(r[k]) for k in [*MONITORS, "lost_share"]}
        if values["lost_tasks"] is not None:
            values["lost_tasks"] = int(values["lost_tasks"])
        per_gen[str(int(g))] = {**values, "alarms": {a: why for a, why in tripped[int(g)].items() if why}}
    return {"thresholds": {k: getattr(thresholds, k) for k in thresholds.__dataclass_fields__},
            "generations": per_gen}


def summary(run: Run, results: pd.DataFrame, curated: pd.DataFrame, deployed: pd.DataFrame | None = None,
            history: list[dict] | None = None) -> dict:
    """Every number of the report (summary.json; summary.md is rendered from it)."""
    first, last = run.generations[0], run.generations[-1]
    solved, longest, counts = solved_table(results), longest_table(results), task_counts(results)
    sizes = success_by_size(results)
    growth, origin = curated_growth(curated, run.generations), curated_by_origin(curated, run.generations)
    return {
        "generations": run.generations,
        "pending": run.pending,
        "unverified": sorted(run.unverified),
        "domains": [d for d in solved.index if d != TOTAL],
        "tasks": {d: int(n) for d, n in counts.items()},
        "solved": {d: _by_gen(solved.loc[d]) for d in solved.index},
        "solved_ratio": {d: ratio(solved.loc[d, first], solved.loc[d, last]) for d in solved.index},
        "longest_valid": {d: _by_gen(longest.loc[d]) for d in longest.index},
        "longest_valid_ratio": {d: ratio(longest.loc[d, first], longest.loc[d, last]) for d in longest.index},
        "success_by_size": {
            d: {str(int(s)): {str(int(r.generation)): {"tasks": int(r.tasks), "solved": int(r.solved),
                                                        "success": float(r.success)} for r in rows.itertuples()}
                for s, rows in part.groupby("size")}
            for d, part in sizes.groupby("domain")},
        "curated": {str(int(g)): {"rows": int(r["rows"]), "tasks": int(r["tasks"]),
                                  "by_origin_generation": {str(int(o)): int(n) for o, n in origin.loc[g].items() if n}}
                    for g, r in growth.iterrows()},
        "deployment": {str(int(g)): {k: (None if pd.isna(v) else int(v)) for k, v in r.items()}
                       for g, r in deployment_table(deployed).iterrows()} if deployed is not None else {},
        "monitors": monitors_summary(history, run.thresholds) if history is not None else {},
    }


def write_report(root: str | Path, out_dir: str | Path | None = None, params_file: str = PARAMS_FILE) -> dict:
    """Write the figures, summary.md and summary.json of the run under `root` into `out_dir`
    (default: <root>/reports). Each file is replaced atomically; the summaries go last, so their
    presence means the figures they link are there. Returns the summary dict."""
    run = open_run(root, params_file)
    out = Path(out_dir) if out_dir is not None else run.root / DEFAULT_OUT
    results, curated, history = task_results(run), curated_rows(run), monitor_history(run)
    data = summary(run, results, curated, deployment_rows(run), history)
    pngs = {
        "success_heatmap.png": plots.success_heatmap(success_by_size(results)),
        "solved_counts.png": plots.solved_counts(solved_table(results)),
        "plan_lengths.png": plots.plan_lengths(results),
        "curated_growth.png": plots.curated_growth(curated_growth(curated, run.generations),
                                                   curated_by_origin(curated, run.generations)),
        "monitors.png": plots.monitors(monitors_table(history, run.thresholds), run.thresholds),
    }
    for name, png in pngs.items():
        write_bytes(out / name, png)
    write_text(out / "summary.md", summary_markdown(data, FIGURES))
    write_json(out / "summary.json", data)
    return data


# --------------------------------------------------------------------------- comparison of runs


def compare_runs(named_roots: dict[str, str | Path]) -> pd.DataFrame:
    """Named runs side by side, one row per (run, generation, domain; 'total' included):
    tasks, solved, success, longest_valid (NA: no valid greedy plan), last (the run's last generation)."""
    frames = []
    for name, root in named_roots.items():
        run = open_run(root)
        results = task_results(run)
        solved, longest, counts = solved_table(results), longest_table(results), task_counts(results)
        long = solved.stack().rename("solved").reset_index()
        per_gen = {h["generation"]: h["monitors"] for h in monitor_history(run)}
        long["monitors"] = [per_gen.get(int(g)) or {} for g in long["generation"]]
        long["longest_valid"] = [longest.loc[d, g] for d, g in zip(long["domain"], long["generation"])]
        long["tasks"] = long["domain"].map(counts).astype("int64")
        long.insert(0, "run", name)
        long["last"] = long["generation"] == long["generation"].max()
        frames.append(long)
    if not frames:
        raise IterdeployError("no runs to compare")
    out = pd.concat(frames, ignore_index=True)
    out["success"] = out["solved"] / out["tasks"]
    out["longest_valid"] = out["longest_valid"].astype("Int64")
    return out[["run", "generation", "domain", "tasks", "solved", "success", "longest_valid", "last", "monitors"]]


_METRICS_FILE = re.compile(r"(?:^|/)gen_(\d+)/metrics\.json$")


def _experiment_entries(node, found: list) -> None:
    """Every (name, rev, metrics, params) under a node of `dvc exp show --json`, depth first."""
    if isinstance(node, list):
        for item in node:
            _experiment_entries(item, found)
    elif isinstance(node, dict):
        data = node.get("data")
        if isinstance(data, dict) and "rev" in node and isinstance(data.get("metrics"), dict):
            found.append((node.get("name") or str(node["rev"]), str(node["rev"]), data["metrics"],
                          data.get("params") or {}))
        for key in ("experiments", "revs"):
            _experiment_entries(node.get(key), found)


def _generation_metrics(root: Path | None, rev: str, metrics: dict) -> dict[int, dict]:
    """{generation: metrics.json} of one run: `dvc exp show` carries only the last generation's (the
    DVC metric); the others come from the run's dvc.lock and the DVC cache (the workspace: its files)."""
    per_gen = {}
    for path, content in metrics.items():
        match = _METRICS_FILE.search(path)
        if match and isinstance(content, dict) and isinstance(content.get("data"), dict):
            per_gen[int(match.group(1))] = content["data"]
    if root is None:
        return per_gen
    if rev == "workspace":
        runs = root / load_params(root / PARAMS_FILE).paths.runs
        files = {str(p): p.read_bytes() for p in sorted(runs.glob("gen_*/metrics.json"))}
    else:
        files = dvc.locked_files_at(root, rev, _METRICS_FILE)
    for path, raw in files.items():
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            per_gen.setdefault(int(_METRICS_FILE.search(path).group(1)), data)
    return per_gen


def experiments_table(shown, names: dict[str, str] | None = None, root: str | Path | None = None) -> pd.DataFrame:
    """`compare_runs`' table from `dvc exp show --json [-n N]` (metrics.json of every generation, greedy):
    the workspace (named 'default' unless `names` says otherwise) and the experiments of the newest
    commit that has any. Commits themselves are left out: the workspace is the run to compare with,
    and experiments queued before a later commit (a docs change, say) still belong next to it. Right
    after `dvc exp run` the workspace holds that experiment (same params): then the baseline is the
    commit the experiments branch from, under the workspace's name.
    With `root` (the project), every generation; without, the last (the one DVC metric)."""
    names = {"workspace": "default", **(names or {})}
    top = [e for e in (shown if isinstance(shown, list) else [shown]) if isinstance(e, dict)]
    workspace = [e for e in top if e.get("rev") == "workspace"]
    source = next((e for e in top if e.get("rev") != "workspace" and e.get("experiments")), None)
    rows, seen = [], set()
    entries: list = []
    _experiment_entries([{k: v for k, v in e.items() if k != "experiments"} for e in workspace], entries)
    if source is not None:
        _experiment_entries(source["experiments"], entries)
        held = [e for e in entries[1:] if entries and entries[0][1] == "workspace" and e[3] == entries[0][3]]
        if held:  # the workspace is an experiment's result: compare against the commit it branched from
            base: list = []
            _experiment_entries([{k: v for k, v in source.items() if k != "experiments"}], base)
            entries = [(names["workspace"], *b[1:]) for b in base[:1]] + entries[1:]
    for raw_name, rev, metrics, _params in entries:
        name = names.get(raw_name, raw_name)
        per_gen = _generation_metrics(None if root is None else Path(root), rev, metrics)
        if not per_gen or name in seen:
            continue
        seen.add(name)
        last = max(per_gen)
        for gen, m in sorted(per_gen.items()):
            for domain, by in sorted(m.get("by_domain", {}).items()):
                rows.append([name, gen, domain, by.get("tasks"), by.get("solved"), by.get("longest_plan"), gen == last,
                             {}])
            monitors = m.get("monitors") if isinstance(m.get("monitors"), dict) else {}
            rows.append([name, gen, "total", m.get("tasks"), m.get("solved"), m.get("longest_plan"), gen == last,
                         monitors])
    if not rows:
        raise IterdeployError("`dvc exp show --json` has no experiment with generation metrics")
    out = pd.DataFrame(rows, columns=["run", "generation", "domain", "tasks", "solved", "longest_valid", "last",
                                      "monitors"])
    out["success"] = out["solved"] / out["tasks"]
    out["longest_valid"] = out["longest_valid"].astype("Int64")
    return out[["run", "generation", "domain", "tasks", "solved", "success", "longest_valid", "last", "monitors"]]


def run_monitors(table: pd.DataFrame, thresholds: collapse.MonitorThresholds = collapse.MonitorThresholds()
                 ) -> pd.DataFrame:
    """The collapse monitors of every run of a comparison table (its total rows' `monitors`), one row per
    (run, generation >= 1): the monitors, lost_share and alarms (`monitors_table`, each run's warnings
    against its own generation 1)."""
    frames = []
    if "monitors" not in table.columns:
        return pd.DataFrame()
    for name in dict.fromkeys(table["run"]):
        part = table[(table["run"] == name) & (table["domain"] == TOTAL)]
        history = [{"generation": int(g), "solved": None if pd.isna(n) else int(n), "monitors": m or {}}
                   for g, n, m in zip(part["generation"], part["solved"], part["monitors"])]
        frames.append(monitors_table(history, thresholds).reset_index().assign(run=name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_comparison(named_roots: dict[str, str | Path], out_dir: str | Path = DEFAULT_OUT,
                     table: pd.DataFrame | None = None) -> pd.DataFrame:
    """ablations.png, then ablations.md (which links it) into `out_dir`; returns the table compared
    (`compare_runs(named_roots)` unless given, e.g. `experiments_table(...)`)."""
    table = compare_runs(named_roots) if table is None else table
    out = Path(out_dir)
    first = next(iter(named_roots.values()), None)
    thresholds = open_run(first).thresholds if first is not None else collapse.MonitorThresholds()
    write_bytes(out / "ablations.png", plots.ablations(table))
    write_text(out / "ablations.md", ablations_markdown(table, "ablations.png", run_monitors(table, thresholds)))
    return table


def format_solved(data: dict) -> str:
    """The solved-per-generation table of a summary as plain text (the CLI prints it)."""
    gens = [str(g) for g in data["generations"]]
    rows = [["domain", "tasks"] + [gen_name(int(g)) for g in gens] + ["last/first"]]
    for d, by in data["solved"].items():
        r = data["solved_ratio"][d]
        rows.append([d, str(data["tasks"][d])] + [str(by[g]) for g in gens] + ["-" if r is None else f"{r:.2f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    return "solved test tasks (greedy)\n" + "\n".join(lines) + "\n"
