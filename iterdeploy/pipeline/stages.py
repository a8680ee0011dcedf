"""One function per artifact of the loop, shared by both faces: the CLI that dvc.yaml runs
(`iterdeploy stage ...`) and the Dagster assets. Each reads its inputs under the project root,
writes its outputs atomically (a killed stage leaves nothing that looks complete), and returns
a small summary (counts, rates) for logs and Dagster metadata. Which files each reads and writes,
and which params, is declared once in `iterdeploy.pipeline.registry`. Sampling, fine-tuning and the progress
plot are imported inside the stages that use them: the stages that run no model start without
transformers or matplotlib (torch still comes with the runtime configuration).
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd

from iterdeploy import curation
from iterdeploy import evaluation as evalmetrics
from iterdeploy.artifacts import atomic_path, read_parquet, tree_hash, write_json, write_parquet
from iterdeploy.monitors import monitors
from iterdeploy.pipeline.context import BASE_REFERENCE, Context, verify_base
from iterdeploy.prompts.examples import prompts_for, training_examples, verdict_columns
from iterdeploy.seeds import derive_seed
from iterdeploy.tasks.spec import spec_of
from iterdeploy.tasks.taskset import build_taskset


def taskset(ctx: Context) -> dict:
    """Build the task set from params `tasks` unless the folder already holds exactly that spec."""
    out = ctx.path(str(ctx.layout.tasks))
    built = spec_of(out) != ctx.params.tasks
    if built:
        ctx.log(f"taskset: generating {out}")
        build_taskset(ctx.params.tasks, out, ctx.root)
    counts = ctx.tasks.manifest.groupby("split").size()
    return {"tasks": int(counts.sum()), "by_split": {str(k): int(v) for k, v in counts.items()}, "built": built}


def _base_reference(ctx: Context) -> dict:
    folder, digest = ctx.checked_base()
    with atomic_path(ctx.path(ctx.layout.checkpoint(0)), directory=True) as tmp:
        write_json(tmp / BASE_REFERENCE, {"path": ctx.params.model.path, "sha256": digest})
    verify_base(folder, digest)
    return {"source": ctx.params.model.path, "model_hash": digest, "checked": ctx.params.model.sha256 is not None}


def checkpoint(ctx: Context, gen: int) -> dict:
    """Generation 0: a reference (path and hash) to the base model folder. Generation g: the model
    fine-tuned on curated(g), from the base or from model g-1 (training.init_from)."""
    if gen == 0:
        return _base_reference(ctx)
    p, lay = ctx.params, ctx.layout
    data = read_parquet(ctx.path(lay.curated(gen)), "curated dataset")
    out = ctx.path(lay.checkpoint(gen))
    start = gen - 1 if p.training.init_from == "previous" else 0
    if data.empty:
        ctx.log(f"gen_{gen:03d} checkpoint: the curated dataset is empty; generation {gen} carries model {start} "
                "forward unchanged")
        with atomic_path(out, directory=True) as tmp:
            shutil.copytree(ctx.path(lay.checkpoint(start)), tmp, dirs_exist_ok=True)
        return {"examples": 0, "trained": False, "carried_from": start, "model_hash": ctx.model_hash(gen)}
    examples = training_examples(ctx.prompt_format, ctx.tasks, data)
    init_from = ctx.model_dir(gen - 1) if start == gen - 1 and gen > 1 else None
    ctx.log(f"gen_{gen:03d} checkpoint: fine-tuning ({p.training.method}, from "
            f"{'generation %d' % start if init_from else 'the base'}) on {len(examples)} plans")
    from iterdeploy.model.training import finetune

    stats = finetune(ctx.model_dir(0), examples, p.training, out, p.runtime, init_from=init_from,
                     progress=ctx.progress)
    return {"examples": len(examples), "trained": True, "model_hash": tree_hash(out), "final_loss": stats["final_loss"],
            "wall_time_s": stats["wall_time_s"]}


SAMPLE_COLUMNS = ["task_id", "domain", "size", "generation", "sample_index", "sample_id", "model_hash", "prompt",
                  "completion", "prompt_tokens", "completion_tokens", "finish_reason", "entropy"]


def samples(ctx: Context, gen: int) -> dict:
    """Model gen-1 samples K plans for every deployment task."""
    s = ctx.params.sampling
    rows = ctx.tasks.split(s.split)
    prompts = prompts_for(ctx.prompt_format, ctx.tasks, rows)
    ctx.log(f"gen_{gen:03d} samples: model {gen - 1} on {len(prompts)} deployment tasks x {s.k}")
    cfg = dataclasses.replace(s, seed=derive_seed(s.seed, "samples", gen))
    from iterdeploy.model.sampling import sample

    df = sample(ctx.model_dir(gen - 1), prompts, cfg, ctx.params.runtime, ctx.progress)
    meta = rows.set_index("task_id")
    df = df.assign(
        domain=df["task_id"].map(meta["domain"]), size=df["task_id"].map(meta["size"]).astype("int64"),
        generation=gen, sample_id=[f"gen_{gen:03d}/{t}/{i}" for t, i in zip(df["task_id"], df["sample_index"])],
        model_hash=ctx.model_hash(gen - 1), prompt=df["task_id"].map(dict(prompts)),
    )
    df = df[SAMPLE_COLUMNS].sort_values(["task_id", "sample_index"], kind="mergesort").reset_index(drop=True)
    write_parquet(ctx.path(ctx.layout.samples(gen)), df)
    return {"tasks": len(prompts), "samples": int(len(df)), "tokens": int(df["completion_tokens"].sum())}


def validated_plans(ctx: Context, gen: int) -> dict:
    """Every sample with its typed verdict (valid, error kind, step, line, atoms, message) and plan length."""
    smp = read_parquet(ctx.path(ctx.layout.samples(gen)), "samples", SAMPLE_COLUMNS)
    df = pd.concat([smp.drop(columns=["prompt"]), verdict_columns(ctx.prompt_format, ctx.tasks, smp)], axis=1)
    write_parquet(ctx.path(ctx.layout.validated(gen)), df)
    valid = int(df["valid"].sum())
    solved = int(df.loc[df["valid"], "task_id"].nunique())
    ctx.log(f"gen_{gen:03d} validated_plans: {valid}/{len(df)} valid, {solved}/{df['task_id'].nunique()} tasks "
            "solved" + ("; no valid sample in this generation" if not valid else ""))
    return {"samples": int(len(df)), "valid": valid, "tasks_solved": solved, "tasks": int(df["task_id"].nunique()),
            "errors": {str(k): int(v) for k, v in df["error"].fillna("none").value_counts().sort_index().items()}}


def curated_dataset(ctx: Context, gen: int) -> dict:
    """The training data of generation `gen` (iterdeploy.curation), checked against its own rule."""
    c = ctx.params.curation
    validated = read_parquet(ctx.path(ctx.layout.validated(gen)), "validated plans", curation.VALIDATED_REQUIRED)
    previous = None
    if gen > 1 and c.accumulate:
        previous = read_parquet(ctx.path(ctx.layout.curated(gen - 1)), "curated dataset",
                                tuple(curation.CURATED_COLUMNS))
    df = curation.curate(validated, previous, c, generation=gen)
    problems = curation.rule_violations(df, c)
    if problems:  # the rule is curation's own post-condition: a violation is a bug, never data to train on
        raise RuntimeError(f"curated dataset of generation {gen} breaks its rule: {'; '.join(problems)}")
    write_parquet(ctx.path(ctx.layout.curated(gen)), df)
    s = curation.summary(df)
    ctx.log(f"gen_{gen:03d} curated_dataset: {s['rows']} plans for {s['tasks']} tasks (filter {c.filter}, "
            f"per_task {c.per_task}, accumulate {c.accumulate})"
            + ("; EMPTY: the next model is the previous one carried forward" if not s["rows"] else ""))
    return s


def test_results(ctx: Context, mdir, seed_key: int, label: str) -> pd.DataFrame:
    """A model folder on the held-out test tasks (params `evaluation`): one greedy plan and k samples per task
    with their verdicts (evaluation.RESULT_COLUMNS); the k samples are seeded by (evaluation.seed, seed_key).
    The loop's evaluation and the GRPO baseline's checkpoints are measured by this one function."""
    e = ctx.params.evaluation
    rows = ctx.tasks.split(e.split)
    prompts = prompts_for(ctx.prompt_format, ctx.tasks, rows)
    ctx.log(f"{label} evaluation: {len(prompts)} test tasks, greedy={e.greedy}, k={e.k}")
    from iterdeploy.model.sampling import sample

    frames = []
    if e.greedy:
        greedy = dataclasses.replace(e, k=1, temperature=0.0, seed=e.seed)
        frames.append(sample(mdir, prompts, greedy, ctx.params.runtime, ctx.progress).assign(mode="greedy"))
    if e.k:
        sampled = dataclasses.replace(e, seed=derive_seed(e.seed, "evaluation", seed_key))
        frames.append(sample(mdir, prompts, sampled, ctx.params.runtime, ctx.progress).assign(mode="sample"))
    raw = pd.concat(frames, ignore_index=True)
    raw = raw.join(rows.set_index("task_id")[["domain", "size", "reference_length"]], on="task_id")
    return evalmetrics.typed_results(pd.concat([raw, verdict_columns(ctx.prompt_format, ctx.tasks, raw)], axis=1))


def evaluation(ctx: Context, gen: int) -> dict:
    """Model `gen` on the held-out test tasks: evaluation.parquet, metrics.json, details.json, history, plot."""
    e, lay = ctx.params.evaluation, ctx.layout
    results = test_results(ctx, ctx.model_dir(gen), gen, f"gen_{gen:03d}")
    previous, history = None, []
    if gen > 0:
        previous = read_parquet(ctx.path(lay.evaluation(gen - 1)), "evaluation results", evalmetrics.REQUIRED)
        history = json.loads(ctx.path(lay.history(gen - 1)).read_text())
    details = evalmetrics.metrics(results, gen, e.k, previous, gen - 1 if gen > 0 else None)
    details["model_hash"] = ctx.model_hash(gen)
    curated_rows = len(read_parquet(ctx.path(lay.curated(gen)), "curated dataset")) if gen > 0 else 0
    headline = evalmetrics.headline(details, curated_rows)
    if gen > 0:
        validated = read_parquet(ctx.path(lay.validated(gen)), "validated plans", ("task_id", "valid", "plan"))
        before = read_parquet(ctx.path(lay.curated(gen - 1)), "curated dataset") if gen > 1 else None
        reference = ctx.tasks.manifest.set_index("task_id")["reference_length"]
        headline["monitors"] = monitors(validated, before, reference, details["vs_previous"]["greedy"]["n_lost"])
    history = [h for h in history if h["generation"] < gen] + [evalmetrics.history_row(details)]
    write_parquet(ctx.path(lay.evaluation(gen)), results)
    write_json(ctx.path(lay.details(gen)), details)
    write_json(ctx.path(lay.history(gen)), history)
    from iterdeploy.pipeline.plots import write_progress

    write_progress(ctx.path(lay.progress(gen)), history)
    write_json(ctx.path(lay.metrics(gen)), headline)  # last: its presence means the evaluation is complete
    ctx.log(f"gen_{gen:03d} evaluation: {evalmetrics.solved_line(headline)}")
    return headline
