"""The asset factory: the task set, and one asset per stage of the registry (generation 0's base model
and its evaluation, then the five artifacts of every generation), wired as dvc.yaml wires its stages
(both iterate iterdeploy.pipeline.registry). Materializing an asset runs the same stage function as
`iterdeploy stage`, then `dvc commit -f <stage>` so that dvc.lock records what was made: one set of
artifacts, one lineage, whichever tool ran it.
"""


import base64
import json

import dagster as dg

from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.layout import Layout
from iterdeploy.pipeline.params import LoopParams
from iterdeploy.pipeline.pin import pin_taskset
from iterdeploy.pipeline.registry import TASKSET, Stage, pipeline, run_stage
from iterdeploy.pipeline.stages import taskset

from .resources import IterdeployResource

TASKSET_KEY = dg.AssetKey([TASKSET])


def asset_key(name: str) -> dg.AssetKey:
    """The asset key of a stage name: 'gen_001-samples' -> ['gen_001', 'samples']."""
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


def _plot_markdown(png) -> dg.MetadataValue:
    data = base64.b64encode(png.read_bytes()).decode()
    return dg.MetadataValue.md(f"![progress across generations](data:image/png;base64,{data})")


def _materialize(context: dg.AssetExecutionContext, res: IterdeployResource, stage: Stage) -> dg.MaterializeResult:
    ctx = res.context(log=context.log.info)
    summary = run_stage(ctx, stage.artifact.name, stage.gen)
    md: dict = {k: _metadata_value(v) for k, v in summary.items()}
    md["path"] = dg.MetadataValue.path(str(ctx.root / stage.all_outs[0]))
    if res.dvc_enabled():
        dvc.commit([stage.name], cwd=ctx.root, dvc=res.dvc_executable)
        hashes = dvc.locked_outs(dvc.read_lock(ctx.root), stage.name)
        md["dvc_stage"] = dg.MetadataValue.text(stage.name)
        md["dvc_md5"] = dg.MetadataValue.text(hashes.get(stage.all_outs[0]) or "-")
        if len(hashes) > 1:
            md["dvc_md5_all"] = dg.MetadataValue.json(hashes)
    if stage.artifact.name == "evaluation":
        md["plot"] = _plot_markdown(ctx.root / Layout.of(ctx.params).progress(stage.gen))
    return dg.MaterializeResult(metadata=md)


def stage_asset(stage: Stage) -> dg.AssetsDefinition:
    """One stage of the registry as an asset (the factory every generation's assets come from)."""

    @dg.asset(
        key=asset_key(stage.name),
        deps=[asset_key(u) for u in stage.upstream],
        group_name=stage.group,
        kinds=set(stage.artifact.kinds),
        description=stage.artifact.description,
        metadata={"dvc_stage": stage.name, "files": list(stage.all_outs), "params": list(stage.params)},
        code_version=None,
    )
    def _asset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        return _materialize(context, iterdeploy, stage)

    return _asset


def taskset_asset(params: LoopParams) -> dg.AssetsDefinition:
    @dg.asset(key=TASKSET_KEY, group_name="taskset", kinds={"pddl", "parquet"},
              description=f"The task set {params.paths.tasks} built from params.yaml `tasks` "
                          "(train / deploy / test splits), pinned by data.dvc.",
              metadata={"path": params.paths.tasks, "pin": "data.dvc"})
    def _taskset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        ctx = iterdeploy.context(log=context.log.info)
        info = pin_taskset(ctx, iterdeploy.dvc_executable) if iterdeploy.dvc_enabled() else taskset(ctx)
        md = {k: _metadata_value(v) for k, v in info.items()}
        md["dvc_md5"] = dg.MetadataValue.text(dvc.read_pin(ctx.root).get("md5") or "-")
        return dg.MaterializeResult(metadata=md)

    return _taskset


def build_assets(params: LoopParams) -> list[dg.AssetsDefinition]:
    """Every asset of the loop, in dependency order."""
    return [taskset_asset(params)] + [stage_asset(s) for s in pipeline(params)]
