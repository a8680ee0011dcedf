"""The RL view of a run (`iterdeploy report` writes it): the implicit reward made explicit, and the GRPO baseline
beside the loop. Reads only what the stages and `iterdeploy grpo` wrote; never runs a model.

    rl_tables(run, grpo)      every table (pure functions of the artifacts, see iterdeploy.rl)
    write_rl_view(root, ...)  rl_landscape.png, rl_weights.png, grpo_vs_loop.png (with a GRPO run),
                              rl_view.md, rl_view.json

The loop's budget at generation g is the plans its deployments sampled in generations 1..g (every row
of validated_plans.parquet) and the seconds its sample, validate, curate and fine-tune stages took
(timings.json, when it holds them for the files on disk: evaluation is left out on both sides). GRPO's
is the plans it sampled before a checkpoint and its training seconds (sampling, reward, update).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iterdeploy import rl
from iterdeploy.artifacts import read_json, write_bytes, write_json, write_text
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.params import PARAMS_FILE
from iterdeploy.report import plots
from iterdeploy.report.markdown import rl_markdown
from iterdeploy.report.run_report import (DEFAULT_OUT, RL_FIGURES, Run, curated_rows, deployment_samples, open_run,
                                          task_results)

BUDGET_STAGES = ("samples", "validated_plans", "curated_dataset", "checkpoint")
"""The stages whose seconds count as the loop's training time (evaluation is left out, as for GRPO)."""
COMPARISON_FIGURE = "grpo_vs_loop.png"


def loop_budget(run: Run, results: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Per evaluated generation (index): samples (plans sampled in deployments 1..g), wall_s (seconds of the
    BUDGET_STAGES of generations 1..g; NA when a timing is missing or belongs to other files), solved and
    tasks (greedy test tasks)."""
    per_gen = samples.groupby("generation").size()
    solved = results.groupby("generation")["solved"].sum()
    tasks = results.groupby("generation")["task_id"].nunique()
    rows, total_samples, total_wall = [], 0, 0.0
    for g in run.generations:
        if g > 0:
            total_samples += int(per_gen.get(g, 0))
            seconds = _stage_seconds(run, g)
            total_wall = None if seconds is None or total_wall is None else total_wall + seconds
        rows.append({"generation": g, "samples": total_samples, "wall_s": total_wall,
                     "solved": int(solved.get(g, 0)), "tasks": int(tasks.get(g, 0))})
    out = pd.DataFrame(rows).set_index("generation")
    return out.astype({"wall_s": "Float64"})


def _stage_seconds(run: Run, gen: int) -> float | None:
    path = run.root / run.layout.timings(gen)
    if not path.is_file():
        return None
    try:
        timings = read_json(path, "timings")
    except IterdeployError:
        return None
    total = 0.0
    outs = {"samples": run.layout.samples(gen), "validated_plans": run.layout.validated(gen),
            "curated_dataset": run.layout.curated(gen), "checkpoint": run.layout.checkpoint(gen)}
    for stage in BUDGET_STAGES:
        entry = timings.get(stage) if isinstance(timings, dict) else None
        target = run.root / outs[stage]
        if not isinstance(entry, dict) or not target.exists() or entry.get("md5") != dvc.md5(target):
            return None
        total += float(entry.get("seconds", 0.0))
    return total


def grpo_budget(log: dict) -> pd.DataFrame:
    """Per GRPO checkpoint (index: its number, 0 = the base): step, samples, wall_s, solved, tasks."""
    rows = [{"checkpoint": i, "step": int(c.get("step", 0)), "samples": int(c.get("samples", 0)),
             "wall_s": float(c.get("wall_s", 0.0)), "solved": c.get("solved"), "tasks": c.get("tasks")}
            for i, c in enumerate(log["checkpoints"])]
    return pd.DataFrame(rows, columns=["checkpoint", "step", "samples", "wall_s", "solved", "tasks"]).set_index(
        "checkpoint")


def comparison_table(loop: pd.DataFrame, grpo: pd.DataFrame) -> pd.DataFrame:
    """The loop's generation p beside GRPO's checkpoint p (the same number of plans sampled, by construction
    of its budget), one row per p either has: loop_samples, loop_wall_s, loop_solved, grpo_samples,
    grpo_wall_s, grpo_solved, tasks."""
    index = sorted(set(loop.index) | set(grpo.index))
    out = pd.DataFrame(index=pd.Index(index, name="point"))
    for side, df in (("loop", loop), ("grpo", grpo)):
        for col in ("samples", "wall_s", "solved"):
            out[f"{side}_{col}"] = df[col].reindex(index)
    out["tasks"] = loop["tasks"].reindex(index).fillna(grpo["tasks"].reindex(index))
    return out.astype({"loop_samples": "Int64", "grpo_samples": "Int64", "loop_solved": "Int64",
                       "grpo_solved": "Int64", "tasks": "Int64", "loop_wall_s": "Float64", "grpo_wall_s": "Float64"})


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
            for r in df.reset_index().to_dict("records")]


def rl_tables(run: Run, grpo_log: dict | None = None) -> dict:
    """Every number of rl_view.md (rl_view.json), plus the frames the figures are drawn from (`frames`)."""
    samples, curated, results = deployment_samples(run), curated_rows(run), task_results(run)
    probs = rl.success_probabilities(samples)
    expected = rl.expected_reward(probs)
    weights = rl.implied_weights(curated[curated["generation"] > 0], probs)
    by_size = (probs.groupby(["domain", "size", "policy"]).agg(tasks=("task_id", "nunique"), p=("p", "mean"))
               .reset_index())
    loop = loop_budget(run, results, samples)
    data = {
        "generations": run.generations,
        "k": sorted({int(n) for n in probs["n"].unique()}),
        "expected_reward": _records(expected),
        "success_by_size": _records(by_size),
        "success_by_task": _records(probs),
        "weights": _records(weights),
        "loop_budget": _records(loop),
        "unverified": sorted(run.unverified),
        "frames": {"probs": probs, "expected": expected, "weights": weights, "loop": loop},
    }
    if grpo_log is not None:
        grpo = grpo_budget(grpo_log)
        data["grpo"] = {"budget": _records(grpo), "params": grpo_log.get("params"), "base": grpo_log.get("base"),
                        "steps": len(grpo_log["steps"]),
                        "reward_curve": [{"step": s["step"], "samples_total": s["samples_total"],
                                          "reward_mean": s["reward_mean"]} for s in grpo_log["steps"]]}
        comparison = comparison_table(loop, grpo)
        data["comparison"] = _records(comparison)
        data["frames"].update(grpo=grpo, comparison=comparison)
    return data


def write_rl_view(root: str | Path, out_dir: str | Path | None = None, params_file: str = PARAMS_FILE,
                  grpo_dir: str | Path | None = None) -> dict:
    """rl_view.md (and .json) with its figures into `out_dir` (default <root>/reports); with `grpo_dir`
    (a folder `iterdeploy grpo` wrote), the comparison as well. Returns the data (without frames)."""
    from iterdeploy.pipeline.grpo import read_run

    run = open_run(root, params_file)
    out = Path(out_dir) if out_dir is not None else run.root / DEFAULT_OUT
    log = read_run(grpo_dir) if grpo_dir is not None else None
    data = rl_tables(run, log)
    frames = data.pop("frames")
    landscape, weights = RL_FIGURES
    write_bytes(out / landscape, plots.rl_landscape(frames["probs"], frames["expected"]))
    write_bytes(out / weights, plots.rl_weights(frames["weights"]))
    figures = {"landscape": landscape, "weights": weights}
    if log is not None:
        write_bytes(out / COMPARISON_FIGURE, plots.grpo_vs_loop(frames["loop"], frames["grpo"]))
        figures["comparison"] = COMPARISON_FIGURE
    write_text(out / "rl_view.md", rl_markdown(data, figures))
    write_json(out / "rl_view.json", data)
    return data
