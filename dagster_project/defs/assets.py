"""The asset factory: the task set, generation 0 (base model and its evaluation), and for every
generation in params.yaml the five assets gen_NNN/{samples, validated_plans, curated_dataset,
checkpoint, evaluation}, wired across generations as dvc.yaml wires its stages (both come from
iterdeploy.layout). Materializing an asset runs the same stage function as `iterdeploy stage`,
then `dvc commit -f <stage>` so that dvc.lock records what was made: one set of artifacts, one
lineage, whichever tool ran it.
"""


import base64
import json
from pathlib import Path

import dagster as dg

from iterdeploy import dvc
from iterdeploy.config import Params
from iterdeploy.layout import ARTIFACTS, TASKSET, Layout, gen_name, stage_name
from iterdeploy.stages import pin_taskset, run_stage, taskset

from .resources import IterdeployResource

TASKSET_KEY = dg.AssetKey([TASKSET])
KINDS = {
    "checkpoint": {"pytorch", "huggingface"},
    "samples": {"pytorch", "parquet"},
    "validated_plans": {"pandas", "parquet"},
    "curated_dataset": {"pandas", "parquet"},
    "evaluation": {"pytorch", "json"},
}
DESCRIPTIONS = {
    "checkpoint": "Model of this generation: generation 0 is the base (embedded bootstrap or a local folder); "
                  "generation g is fine-tuned on curated_dataset(g).",
    "samples": "Model g-1 on the deployment tasks: K sampled completions per task (Parquet).",
    "validated_plans": "Every sample with its typed verdict (valid, error kind, step, atoms) and plan length.",
    "curated_dataset": "Training data of generation g: by default valid plans only, the shortest per task, "
                       "accumulated over generations 1..g; every row keeps its origin.",
    "evaluation": "Held-out test tasks: solved fraction per domain and size (greedy, pass@k), plan lengths, "
                  "newly solved and lost tasks; metrics.json, history.json, progress.png.",
}


def asset_key(name: str) -> dg.AssetKey:
    """The asset key of a layout stage name: 'gen_001-samples' -> ['gen_001', 'samples']."""
    if name == TASKSET:
        return TASKSET_KEY
    gen, _, artifact = name.partition("-")
    return dg.AssetKey([gen, artifact])


def _metadata_value(v):
    if v is None:
        return dg.MetadataValue.text("-")
    if isinstance(v, bool):
        return dg.MetadataValue.bool(v)
    if isinstance(v, int):
        return dg.MetadataValue.int(v)
    if isinstance(v, float):
        return dg.MetadataValue.float(v)
    if isinstance(v, (dict, list)):
        return dg.MetadataValue.json(v)
    return dg.MetadataValue.text(str(v))


def _lock_md5(root: Path, stage: str) -> dict[str, str]:
    entries = ((dvc.read_lock(root).get("stages") or {}).get(stage) or {}).get("outs") or []
    return {e["path"]: e.get("md5") for e in entries}


def _plot_markdown(png: Path) -> dg.MetadataValue:
    data = base64.b64encode(png.read_bytes()).decode()
    return dg.MetadataValue.md(f"![progress across generations](data:image/png;base64,{data})")


def _materialize(context: dg.AssetExecutionContext, res: IterdeployResource, gen: int,
                 artifact: str) -> dg.MaterializeResult:
    ctx = res.context(log=context.log.info)
    summary = run_stage(ctx, artifact, gen)
    name = stage_name(gen, artifact)
    md: dict = {k: _metadata_value(v) for k, v in summary.items()}
    lay = Layout(ctx.params)
    stage = lay.stage(gen, artifact)
    md["path"] = dg.MetadataValue.path(str(ctx.root / stage.all_outs[0]))
    if res.dvc_enabled():
        dvc.commit([name], cwd=ctx.root, dvc=res.dvc_executable)
        hashes = _lock_md5(ctx.root, name)
        md["dvc_stage"] = dg.MetadataValue.text(name)
        md["dvc_md5"] = dg.MetadataValue.text(hashes.get(stage.all_outs[0]) or "-")
        if len(hashes) > 1:
            md["dvc_md5_all"] = dg.MetadataValue.json(hashes)
    if artifact == "evaluation":
        m = json.loads((ctx.root / lay.metrics(gen)).read_text())
        md["by_domain"] = dg.MetadataValue.json(m["by_domain"])
        md["vs_previous"] = dg.MetadataValue.json(
            {k: (v if not isinstance(v, dict) else {a: b for a, b in v.items() if a.startswith("n_")})
             for k, v in (m["vs_previous"] or {}).items()})
        md["plot"] = _plot_markdown(ctx.root / lay.progress(gen))
    return dg.MaterializeResult(metadata=md)


def generation_asset(gen: int, artifact: str, params: Params) -> dg.AssetsDefinition:
    """One artifact of one generation as an asset (the factory every generation's assets come from)."""
    stage = Layout(params).stage(gen, artifact)

    @dg.asset(
        key=asset_key(stage.name),
        deps=[asset_key(u) for u in stage.upstream],
        group_name=gen_name(gen),
        kinds=KINDS[artifact],
        description=DESCRIPTIONS[artifact],
        metadata={"dvc_stage": stage.name, "files": list(stage.all_outs), "params": list(stage.params)},
        code_version=None,
    )
    def _asset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        return _materialize(context, iterdeploy, gen, artifact)

    return _asset


def taskset_asset(params: Params) -> dg.AssetsDefinition:
    @dg.asset(key=TASKSET_KEY, group_name="taskset", kinds={"pddl", "parquet"},
              description=f"The task set {params.paths.tasks} built from params.yaml `tasks` "
                          "(train / deploy / test splits), pinned by data.dvc.",
              metadata={"path": params.paths.tasks, "pin": "data.dvc"})
    def _taskset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        ctx = iterdeploy.context(log=context.log.info)
        if iterdeploy.dvc_enabled():
            info = pin_taskset(ctx, iterdeploy.dvc_executable)
        else:
            info = taskset(ctx)
        pin = dvc.read_pin(ctx.root)
        md = {k: _metadata_value(v) for k, v in info.items()}
        md["dvc_md5"] = dg.MetadataValue.text(pin.get("md5") or "-")
        return dg.MaterializeResult(metadata=md)

    return _taskset


def build_assets(params: Params) -> list[dg.AssetsDefinition]:
    """Every asset of the loop, in dependency order."""
    assets = [taskset_asset(params), generation_asset(0, "checkpoint", params),
              generation_asset(0, "evaluation", params)]
    for g in params.gens:
        assets += [generation_asset(g, a, params) for a in ARTIFACTS]
    return assets
