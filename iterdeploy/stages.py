"""One function per artifact of the loop. The CLI that dvc.yaml runs (`iterdeploy stage ...`) and the
Dagster assets (`dagster_project/`) both call these, so there is one set of artifacts and one lineage,
whichever tool ran it.

Every function reads its inputs from files under `ctx.root`, writes its outputs atomically (a killed
stage never leaves a partial artifact that looks complete), and returns a small summary dict (counts,
rates) for progress output and Dagster metadata. Paths come from `iterdeploy.layout`.

    taskset(ctx)                      data/tasks from params `tasks` (pinned by data.dvc)
    checkpoint(ctx, 0)                the base model: embedded bootstrap, or a reference to a local folder
    samples(ctx, g)                   model g-1 on the deployment tasks, K samples per task
    validated_plans(ctx, g)           every sample with its typed verdict and plan length
    curated_dataset(ctx, g)           iterdeploy.curation over validated(g) and curated(g-1)
    checkpoint(ctx, g)                model g: fine-tuned on curated(g)
    evaluation(ctx, g)                model g on the test tasks: evaluation.parquet, metrics.json, plots
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from iterdeploy import curation
from iterdeploy import evaluation as evalmetrics
from iterdeploy.artifacts import atomic_path, tree_hash, write_json, write_parquet
from iterdeploy.config import OptimizerConfig, Params
from iterdeploy.context import Context, TaskCache, derive_seed, load_config, make_context, manifest, prompt_seed
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.plots import write_progress

REFERENCE = "reference.json"
"""In a checkpoint folder: {path, hash} of a model folder that is not copied (a configured local base)."""


# --------------------------------------------------------------------------- task set


def taskset(ctx: Context) -> dict:
    """Build the task set from params `tasks` unless the folder already holds exactly that spec."""
    from iterdeploy.tasks.spec import TaskSetSpec
    from iterdeploy.tasks.taskset import build_taskset

    spec = TaskSetSpec.from_dict(ctx.params.tasks, "tasks")
    out = ctx.path(str(ctx.layout.tasks))
    spec_file = out / "spec.json"
    if (out / "manifest.parquet").is_file() and spec_file.is_file() and \
            json.loads(spec_file.read_text()) == json.loads(json.dumps(spec.to_dict())):
        df = manifest(ctx)
        built = False
    else:
        ctx.log(f"taskset: generating {out}")
        df = build_taskset(spec, out)
        built = True
    counts = {str(k): int(v) for k, v in df.groupby("split").size().items()}
    return {"tasks": int(len(df)), "by_split": counts, "built": built, "hash": tree_hash(out)}


def pinned_dir(params: Params) -> str:
    """The folder data.dvc pins: the first component of params `paths.tasks` ('data')."""
    return Path(params.paths.tasks).parts[0]


def pin_taskset(ctx: Context, dvc_exe: str | None = None, repin: bool = False) -> dict:
    """Build the task set if needed and make sure it matches its DVC pin (`<dir>.dvc`, e.g. data.dvc).

    No pin yet, or `repin`: `dvc add <dir>` writes it (commit it with git). A pin that the rebuilt
    folder does not match is an error: either `tasks` changed (re-pin) or the generators drifted."""
    from iterdeploy import dvc

    info = taskset(ctx)
    folder = pinned_dir(ctx.params)
    pin = ctx.root / f"{folder}.dvc"
    if not pin.is_file() or repin:
        ctx.log(f"taskset: pinning {folder}/ in {pin.name} (dvc add); commit {pin.name} with git")
        dvc.run(["add", folder], cwd=ctx.root, dvc=dvc_exe)
        return {**info, "pinned": True}
    st = dvc.status([pin.name], cwd=ctx.root, dvc=dvc_exe)
    changes = [c for entry in st.get(pin.name, []) for c in (entry.get("changed outs") or {}).values()]
    other = [e for e in st.get(pin.name, []) if "changed outs" not in e]
    mismatch = other or any(c != "not in cache" for c in changes)
    if not mismatch and changes:
        # Without the objects in the local cache (a fresh clone), DVC cannot compare: hash the folder by
        # committing it, and put the pin back if the hash differs.
        before = pin.read_bytes()
        dvc.run(["commit", "-f", pin.name], cwd=ctx.root, dvc=dvc_exe)
        after = dvc.read_pin(ctx.root).get("md5")
        pin.write_bytes(before)
        mismatch = after != dvc.read_pin(ctx.root).get("md5")
        st = {pin.name: [{"changed outs": {folder: f"hashes to {after}"}}]} if mismatch else {}
    if mismatch:
        raise IterdeployError(
            f"{ctx.params.paths.tasks} does not match the pin in {pin.name} ({json.dumps(st)}). If you changed "
            "`tasks` in params.yaml, re-pin (`iterdeploy run --repin`); otherwise the generators no longer "
            "reproduce the pinned task set", pin.name)
    if changes:
        ctx.log(f"taskset: {ctx.params.paths.tasks} matches {pin.name} (added to the local DVC cache)")
    return {**info, "pinned": False}


# --------------------------------------------------------------------------- models


def model_dir(ctx: Context, gen: int) -> Path:
    """The loadable model folder of generation `gen`, relative to the project root (stages run there), or
    the absolute path a reference.json names. Relative paths keep model cards and adapter configs (and so
    the checkpoints' hashes) the same in every clone."""
    rel = Path(ctx.layout.checkpoint(gen))
    ck = ctx.root / rel
    ref = ck / REFERENCE
    if ref.is_file():
        return Path(json.loads(ref.read_text())["path"])
    if not ck.is_dir():
        raise IterdeployError(f"checkpoint of generation {gen} is missing (run its stage first)", rel)
    return rel


def model_hash(ctx: Context, gen: int) -> str:
    """Content hash of generation `gen`'s model (the referenced folder's hash for a local base)."""
    ck = ctx.path(ctx.layout.checkpoint(gen))
    ref = ck / REFERENCE
    if ref.is_file():
        return json.loads(ref.read_text())["hash"]
    return tree_hash(ck)


def _base_dir(ctx: Context) -> Path:
    return model_dir(ctx, 0)


def prompt_format(ctx: Context):
    from iterdeploy.model.loading import load_tokenizer
    from iterdeploy.prompts import get_format

    return get_format(ctx.params.model.prompt_format, load_tokenizer(_base_dir(ctx)))


def _train_config(ctx: Context, section, method: str, gen: int):
    from iterdeploy.model import TrainConfig

    # TrainConfig is the model layer's view of the same knobs (OptimizerConfig) plus run settings
    d = {f.name: getattr(section, f.name) for f in dataclasses.fields(OptimizerConfig)}
    d.update(method=method, max_steps=section.max_steps or None, threads=ctx.n_threads,
             seed=derive_seed(section.seed, "train", gen))
    if method == "lora":
        d.update(lora_r=section.lora_r, lora_alpha=section.lora_alpha, lora_dropout=section.lora_dropout)
        if section.target_modules:
            d["target_modules"] = section.target_modules
    return TrainConfig.from_dict(d, "training" if gen else "bootstrap")


def _sampling_config(ctx: Context, *, k: int, temperature: float, top_p: float, max_new_tokens: int,
                     batch_size: int, seed: int, greedy: bool = False):
    from iterdeploy.model import SamplingConfig

    return SamplingConfig(k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                          batch_size=batch_size, seed=seed, threads=ctx.n_threads, greedy=greedy,
                          progress=ctx.progress)


def _examples(ctx: Context, fmt, rows: pd.DataFrame, tasks: TaskCache, plan_col: str,
              renamings: int = 1) -> list[tuple[str, str]]:
    """(prompt, completion) per row; renaming 0 is the prompt deployment and evaluation use."""
    out = []
    for _, r in rows.iterrows():
        task = tasks.get(r)
        steps = [ln.split(";", 1)[0].strip() for ln in str(r[plan_col]).splitlines()]
        steps = [s for s in steps if s]
        for k in range(renamings):
            seed = prompt_seed(r["task_id"]) if k == 0 else derive_seed("renaming", r["task_id"], k)
            out.append((fmt.prompt(task, seed), fmt.completion(task, steps, seed)))
    return out


def _bootstrap(ctx: Context) -> dict:
    from iterdeploy.model import EmbeddedModelConfig, pretrain_embedded

    p = ctx.params
    rows = manifest(ctx, p.bootstrap.split)
    rows = rows[rows["plan_path"].notna()].copy()
    root = ctx.path(str(ctx.layout.tasks))
    rows["plan"] = [(root / str(pp)).read_text() for pp in rows["plan_path"]]
    from iterdeploy.model import build_tokenizer
    from iterdeploy.prompts import get_format

    cfg = EmbeddedModelConfig.from_dict(p.model.embedded, "model.embedded")
    tokenizer = build_tokenizer(list(cfg.domains), cfg.max_objects)
    fmt = get_format(p.model.prompt_format, tokenizer)
    examples = _examples(ctx, fmt, rows, TaskCache(ctx), "plan", p.bootstrap.renamings)
    out = ctx.layout.checkpoint(0)
    ctx.log(f"gen_000 checkpoint: bootstrapping the embedded model on {len(examples)} reference plans "
            f"(split {p.bootstrap.split})")
    with atomic_path(out, directory=True) as tmp:
        pretrain_embedded(examples, cfg, _train_config(ctx, p.bootstrap, "full", 0), tmp / "model",
                          tokenizer=tokenizer, progress=ctx.progress)
        timings = _settle(tmp / "model", tmp)
    return {"examples": len(examples), "source": "embedded", "model_hash": tree_hash(out), **timings}


_VOLATILE = ("wall_time", "_per_s")


def _strip_volatile(obj: Any, found: dict, prefix: str = "") -> Any:
    """`obj` without timing fields (they differ run to run); the removed ones go to `found`."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if any(mark in k for mark in _VOLATILE):
                found[prefix + k] = v
            else:
                out[k] = _strip_volatile(v, found, f"{prefix}{k}.")
        return out
    if isinstance(obj, list):
        return [_strip_volatile(v, found, prefix) for v in obj]
    return obj


def _settle(src: Path, dest: Path) -> dict:
    """Move a model folder written by the model layer into `dest`, taking the timings out of its
    model_card.json so that the same training gives a byte-identical checkpoint."""
    for item in sorted(src.iterdir()):
        item.rename(dest / item.name)
    src.rmdir()
    card = dest / "model_card.json"
    found: dict = {}
    if card.is_file():
        data = _strip_volatile(json.loads(card.read_text()), found)
        card.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return found


def _record_timings(ctx: Context, gen: int, artifact: str, timings: dict) -> None:
    """runs/gen_NNN/timings.json: wall-clock facts kept out of the artifacts (not tracked by DVC)."""
    path = ctx.path(ctx.layout.path(gen, "timings.json"))
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[artifact] = timings
    write_json(path, data)


def _reference_local(ctx: Context) -> dict:
    src = Path(ctx.params.model.path).expanduser()
    src_abs = src if src.is_absolute() else ctx.root / src
    if not src_abs.is_dir():
        raise ConfigError(f"model.path: local model folder not found: {src_abs}")
    digest = tree_hash(src_abs)
    out = ctx.layout.checkpoint(0)
    with atomic_path(out, directory=True) as tmp:
        write_json(tmp / REFERENCE, {"path": str(src), "hash": digest})
    return {"source": "local", "path": str(src), "model_hash": digest}


def checkpoint(ctx: Context, gen: int) -> dict:
    """Generation 0: the base model. Generation g: the model fine-tuned on curated(g)."""
    if gen == 0:
        return _bootstrap(ctx) if ctx.params.model.source == "embedded" else _reference_local(ctx)
    from iterdeploy.model import finetune

    p = ctx.params
    lay = ctx.layout
    data = pd.read_parquet(lay.curated(gen))
    out = lay.checkpoint(gen)
    start_gen = gen - 1 if p.training.init_from == "previous" else 0
    if data.empty:
        ctx.log(f"gen_{gen:03d} checkpoint: curated dataset is empty; generation {gen} keeps model {start_gen}")
        with atomic_path(out, directory=True) as tmp:
            shutil.copytree(lay.checkpoint(start_gen), tmp, dirs_exist_ok=True)
            card = {"generation": gen, "trained": False, "reason": "empty curated dataset",
                    "copied_from_generation": start_gen}
            write_json(tmp / "pipeline_card.json", card)
        return {"examples": 0, "trained": False, "model_hash": tree_hash(out)}
    fmt = prompt_format(ctx)
    examples = _examples(ctx, fmt, data, TaskCache(ctx), "plan")
    init_from = None
    if p.training.init_from == "previous" and gen > 1:
        init_from = model_dir(ctx, gen - 1)
    ctx.log(f"gen_{gen:03d} checkpoint: fine-tuning ({p.training.method}, from "
            f"{'generation %d' % (gen - 1) if init_from else 'the base'}) on {len(examples)} plans")
    with atomic_path(out, directory=True) as tmp:
        finetune(_base_dir(ctx), examples, _train_config(ctx, p.training, p.training.method, gen), tmp / "model",
                 init_from=init_from, progress=ctx.progress)
        timings = _settle(tmp / "model", tmp)
    return {"examples": len(examples), "trained": True, "model_hash": tree_hash(out), **timings}


# --------------------------------------------------------------------------- deployment


def _prompts(ctx: Context, fmt, rows: pd.DataFrame, tasks: TaskCache) -> list[tuple[str, str]]:
    return [(r["task_id"], fmt.prompt(tasks.get(r), prompt_seed(r["task_id"]))) for _, r in rows.iterrows()]


SAMPLE_COLUMNS = ["task_id", "domain", "size", "generation", "sample_index", "sample_id", "model_hash", "prompt",
                  "completion", "prompt_tokens", "completion_tokens", "finish_reason"]


def samples(ctx: Context, gen: int) -> dict:
    """Model gen-1 samples K plans for every deployment task."""
    from iterdeploy.model import sample

    p = ctx.params
    rows = manifest(ctx, p.sampling.split)
    tasks = TaskCache(ctx)
    fmt = prompt_format(ctx)
    prompts = _prompts(ctx, fmt, rows, tasks)
    s = p.sampling
    cfg = _sampling_config(ctx, k=s.k, temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens,
                           batch_size=s.batch_size, seed=derive_seed(s.seed, "samples", gen))
    ctx.log(f"gen_{gen:03d} samples: model {gen - 1} on {len(prompts)} deployment tasks x {s.k}")
    t0 = time.perf_counter()
    df = sample(model_dir(ctx, gen - 1), prompts, cfg)
    mhash = model_hash(ctx, gen - 1)
    meta = rows.set_index("task_id")
    prompt_of = dict(prompts)
    df = df.assign(
        domain=df["task_id"].map(meta["domain"]), size=df["task_id"].map(meta["size"]).astype("int64"),
        generation=gen, sample_id=[f"gen_{gen:03d}/{t}/{i}" for t, i in zip(df["task_id"], df["sample_index"])],
        model_hash=mhash, prompt=df["task_id"].map(prompt_of),
    )
    df = df[SAMPLE_COLUMNS].sort_values(["task_id", "sample_index"], kind="mergesort").reset_index(drop=True)
    write_parquet(ctx.path(ctx.layout.samples(gen)), df)
    return {"tasks": len(prompts), "samples": int(len(df)), "seconds": round(time.perf_counter() - t0, 1),
            "model_hash": mhash}


def _verdict_columns(fmt, tasks: TaskCache, rows: pd.DataFrame, completion_col: str = "completion") -> pd.DataFrame:
    from iterdeploy.planning import validate

    out = []
    for _, r in rows.iterrows():
        task = tasks.get(r)
        parsed = fmt.plan_from_completion(task, r[completion_col], prompt_seed(r["task_id"]))
        v = validate(task, parsed)
        out.append({"plan": parsed.to_text(), "plan_length": int(len(parsed.steps)), "valid": bool(v.valid),
                    "error": None if v.error is None else str(v.error), "error_step": v.step,
                    "error_line": v.line, "error_atoms": list(v.atoms), "error_message": v.message or None})
    cols = pd.DataFrame(out, index=rows.index, columns=["plan", "plan_length", "valid", "error", "error_step",
                                                         "error_line", "error_atoms", "error_message"])
    return cols.astype({"plan": "string", "plan_length": "int64", "valid": "bool", "error": "string",
                        "error_step": "Int64", "error_line": "Int64", "error_message": "string"})


def validated_plans(ctx: Context, gen: int) -> dict:
    """Every sample with its typed verdict (valid, error kind, step, line, atoms, message) and plan length."""
    smp = pd.read_parquet(ctx.path(ctx.layout.samples(gen)))
    verdicts = _verdict_columns(prompt_format(ctx), TaskCache(ctx), smp)
    df = pd.concat([smp.drop(columns=["prompt"]), verdicts], axis=1)
    write_parquet(ctx.path(ctx.layout.validated(gen)), df)
    solved = int(df.loc[df["valid"], "task_id"].nunique())
    ctx.log(f"gen_{gen:03d} validated_plans: {int(df['valid'].sum())}/{len(df)} valid, "
            f"{solved}/{df['task_id'].nunique()} tasks solved")
    return {"samples": int(len(df)), "valid": int(df["valid"].sum()), "tasks_solved": solved,
            "tasks": int(df["task_id"].nunique()),
            "errors": {str(k): int(v) for k, v in df["error"].fillna("none").value_counts().sort_index().items()}}


def curated_dataset(ctx: Context, gen: int) -> dict:
    """The training data of generation `gen` (see iterdeploy.curation)."""
    c = ctx.params.curation
    validated = pd.read_parquet(ctx.path(ctx.layout.validated(gen)))
    previous = None
    if gen > 1 and c.accumulate:
        previous = pd.read_parquet(ctx.path(ctx.layout.curated(gen - 1)))
    df = curation.curate(validated, previous, filter=c.filter, per_task=c.per_task, accumulate=c.accumulate,
                         dedupe_plans=c.dedupe, seed=c.seed, generation=gen)
    write_parquet(ctx.path(ctx.layout.curated(gen)), df)
    s = curation.summary(df)
    ctx.log(f"gen_{gen:03d} curated_dataset: {s['rows']} plans for {s['tasks']} tasks "
            f"(filter {c.filter}, per_task {c.per_task}, accumulate {c.accumulate})")
    return s


# --------------------------------------------------------------------------- evaluation


def evaluation(ctx: Context, gen: int) -> dict:
    """Model `gen` on the held-out test tasks: per-plan results, metrics.json, history and plots."""
    from iterdeploy.model import sample

    p = ctx.params
    e = p.evaluation
    lay = ctx.layout
    rows = manifest(ctx, e.split)
    tasks = TaskCache(ctx)
    fmt = prompt_format(ctx)
    prompts = _prompts(ctx, fmt, rows, tasks)
    mdir = model_dir(ctx, gen)
    frames = []
    ctx.log(f"gen_{gen:03d} evaluation: {len(prompts)} test tasks, greedy={e.greedy}, k={e.k}")
    if e.greedy:
        cfg = _sampling_config(ctx, k=1, temperature=0.0, top_p=1.0, max_new_tokens=e.max_new_tokens,
                               batch_size=e.batch_size, seed=e.seed, greedy=True)
        frames.append(sample(mdir, prompts, cfg).assign(mode="greedy"))
    if e.k:
        cfg = _sampling_config(ctx, k=e.k, temperature=e.temperature, top_p=e.top_p, max_new_tokens=e.max_new_tokens,
                               batch_size=e.batch_size, seed=derive_seed(e.seed, "evaluation", gen))
        frames.append(sample(mdir, prompts, cfg).assign(mode="sample"))
    raw = pd.concat(frames, ignore_index=True)
    meta = rows.set_index("task_id")
    raw = raw.join(meta[["domain", "size", "reference_length"]], on="task_id")
    verdicts = _verdict_columns(fmt, tasks, raw)
    results = evalmetrics.typed_results(pd.concat([raw, verdicts], axis=1))
    prev_results, prev_history = None, []
    if gen > 0:
        prev_results = pd.read_parquet(ctx.path(lay.evaluation(gen - 1)))
        prev_history = json.loads(ctx.path(lay.history(gen - 1)).read_text())
    m = evalmetrics.metrics(results, gen, e.k, prev_results, gen - 1 if gen > 0 else None)
    m["model_hash"] = model_hash(ctx, gen)
    history = [h for h in prev_history if h["generation"] < gen] + [history_row(m)]
    write_parquet(ctx.path(lay.evaluation(gen)), results)
    write_json(ctx.path(lay.history(gen)), history)
    write_progress(ctx.path(lay.progress(gen)), _history_metrics(ctx, gen, m))
    write_json(ctx.path(lay.metrics(gen)), m)  # last: its presence means the evaluation is complete
    rate = evalmetrics.primary_rate(m)
    ctx.log(f"gen_{gen:03d} evaluation: solved greedy={_fmt(m['solved']['greedy'])} "
            f"pass@{e.k}={_fmt(m['solved']['pass_at_k'])}")
    return {"tasks": m["tasks"], "solved_greedy": m["solved"]["greedy"], "solved_pass_at_k": m["solved"]["pass_at_k"],
            "solved": rate, "longest_valid": (m["longest_valid"] or {}).get("length")}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def history_row(m: dict) -> dict:
    """One generation's row of history.json (the data of `dvc plots show`)."""
    vp = m.get("vs_previous") or {}
    return {
        "generation": m["generation"],
        "solved_greedy": m["solved"]["greedy"],
        "solved_pass_at_k": m["solved"]["pass_at_k"],
        "mean_length_greedy": m["plan_length"]["greedy"]["mean"],
        "max_length": max([x for x in (m["plan_length"]["greedy"]["max"], m["plan_length"]["sample"]["max"])
                           if x is not None], default=None),
        "newly_solved": (vp.get("greedy") or {}).get("n_newly_solved"),
        "lost": (vp.get("greedy") or {}).get("n_lost"),
    }


def _history_metrics(ctx: Context, gen: int, current: dict) -> list[dict]:
    out = []
    for g in range(gen):
        path = ctx.path(ctx.layout.metrics(g))
        if path.is_file():
            out.append(json.loads(path.read_text()))
    return out + [current]


# --------------------------------------------------------------------------- dispatch


STAGES: dict[str, Callable[[Context, int], dict]] = {
    "samples": samples,
    "validated_plans": validated_plans,
    "curated_dataset": curated_dataset,
    "checkpoint": checkpoint,
    "evaluation": evaluation,
}


def run_stage(ctx: Context, artifact: str, gen: int) -> dict:
    """Run one stage by name (`taskset` ignores `gen`)."""
    if artifact == "taskset":
        return taskset(ctx)
    if artifact not in STAGES:
        raise ConfigError(f"unknown stage {artifact!r}; expected taskset or one of {', '.join(STAGES)}")
    if gen < 0 or (gen > 0 and gen not in ctx.params.gens) or (gen == 0 and artifact not in ("checkpoint",
                                                                                            "evaluation")):
        raise ConfigError(f"stage {artifact} of generation {gen} is not in the pipeline "
                          f"(generations: {ctx.params.gens or 'none'})")
    t0 = time.perf_counter()
    with contextlib.chdir(ctx.root):  # model folders are named relative to the project root
        summary = STAGES[artifact](ctx, gen)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    _record_timings(ctx, gen, artifact, {"seconds": summary["seconds"], "threads": ctx.n_threads,
                                         **{k: v for k, v in summary.items() if "wall_time" in k or "_per_s" in k}})
    return summary


__all__ = ["Context", "STAGES", "checkpoint", "curated_dataset", "evaluation", "load_config", "make_context",
           "model_dir", "model_hash", "run_stage", "samples", "taskset", "validated_plans"]
