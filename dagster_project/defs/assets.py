"""The asset factory: the task set, and one asset per stage of the registry (generation 0's base model
and its evaluation, then the five artifacts of every generation), wired as dvc.yaml wires its stages
(both iterate iterdeploy.pipeline.registry), except that the two inputs nearly every stage reads, the task
set and the base model, are drawn into the first stage of each generation that reads them only
(`dagster_upstream`). Materializing an asset runs the same stage
function as `iterdeploy stage`, then `dvc commit -f <stage>` so that dvc.lock records what was made:
one set of artifacts, one lineage, whichever tool ran it.
"""

import dagster as dg

from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.layout import Layout, stage_name
from iterdeploy.pipeline.params import LoopParams
from iterdeploy.pipeline.pin import pin_taskset
from iterdeploy.pipeline.registry import TASKSET, Stage, pipeline, run_stage
from iterdeploy.pipeline.stages import taskset

from .events import data_version, describe, dvc_metadata, metadata_value, ordered, plot_metadata, shared_md5s
from .resources import IterdeployResource

TASKSET_KEY = dg.AssetKey([TASKSET])


def asset_key(name: str) -> dg.AssetKey:
    """The asset key of a stage name: 'gen_001-samples' -> ['gen_001', 'samples']."""
    if name == TASKSET:
        return TASKSET_KEY
    gen, _, artifact = name.partition("-")
    return dg.AssetKey([gen, artifact])


SHARED = (TASKSET, stage_name(0, "checkpoint"))
"""The two inputs nearly every stage reads: the task set and the base model (generation 0's checkpoint)."""


def dagster_upstream(stages: list[Stage]) -> dict[str, tuple[str, ...]]:
    """Each stage's upstream assets in Dagster's graph: its dvc.yaml upstream stages, except a shared input
    (SHARED) when the stage also reads an artifact of its own generation that descends from that input
    within the generation. So each generation draws the task set and the base model into its first stage
    that reads them only (samples, validated_plans; generation 0's evaluation), and the graph reads as one
    chain per generation. The stages left without the direct edge still descend from the shared input,
    through that first reader, and their data versions carry its md5 (events.py), so a new task set or
    base model still makes every stage that reads it stale in turn."""
    out = {s.name: list(s.upstream) for s in stages}
    for shared in SHARED:
        descends: set[str] = set()  # stages that read `shared` directly or through their own generation
        for s in stages:
            via_gen = any(u in descends and u.startswith(s.group + "-") for u in s.upstream)
            if shared in s.upstream or via_gen:
                descends.add(s.name)
            if via_gen and shared in out[s.name]:
                out[s.name].remove(shared)
    return {name: tuple(ups) for name, ups in out.items()}


def shared_ancestors(stages: list[Stage]) -> dict[str, tuple[str, ...]]:
    """For each stage, the shared inputs among its ancestors (in SHARED order)."""
    above: dict[str, set[str]] = {}
    for s in stages:
        above[s.name] = set()
        for u in s.upstream:
            if u in SHARED:
                above[s.name].add(u)
            above[s.name] |= above.get(u, set())
    return {name: tuple(x for x in SHARED if x in found) for name, found in above.items()}


def _materialize(context: dg.AssetExecutionContext, res: IterdeployResource, stage: Stage,
                 shared: tuple[str, ...]) -> dg.MaterializeResult:
    ctx = res.context(log=context.log.info)
    summary = run_stage(ctx, stage.artifact.name, stage.gen)
    md = describe(ctx.root, ctx.params, stage)
    md.update({k: metadata_value(v) for k, v in summary.items()})
    version = None
    if res.dvc_enabled():
        dvc.commit([stage.name], cwd=ctx.root, dvc=res.dvc_executable)
        lock = dvc.read_lock(ctx.root)
        md.update(dvc_metadata(lock, stage))
        version = data_version(dvc.locked_outs(lock, stage.name), shared_md5s(ctx.root, lock, shared))
    if stage.artifact.name == "evaluation":
        md.update(plot_metadata(context.instance, ctx.root / Layout.of(ctx.params).progress(stage.gen)))
    return dg.MaterializeResult(metadata=ordered(md), data_version=version)


def stage_asset(stage: Stage, upstream: tuple[str, ...], shared: tuple[str, ...]) -> dg.AssetsDefinition:
    """One stage of the registry as an asset (the factory every generation's assets come from)."""

    @dg.asset(
        key=asset_key(stage.name),
        deps=[asset_key(u) for u in upstream],
        group_name=stage.group,
        kinds=set(stage.artifact.kinds),
        description=stage.artifact.description,
        metadata={"dvc_stage": stage.name, "files": list(stage.all_outs), "params": list(stage.params),
                  "reads": list(stage.upstream)},
        code_version=None,
    )
    def _asset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        return _materialize(context, iterdeploy, stage, shared)

    return _asset


def taskset_asset(params: LoopParams) -> dg.AssetsDefinition:
    @dg.asset(key=TASKSET_KEY, group_name="taskset", kinds={"pddl", "parquet"},
              description=f"The task set {params.paths.tasks} built from params.yaml `tasks` "
                          "(train / deploy / test splits), pinned by data.dvc.",
              metadata={"path": params.paths.tasks, "pin": "data.dvc"})
    def _taskset(context: dg.AssetExecutionContext, iterdeploy: IterdeployResource) -> dg.MaterializeResult:
        ctx = iterdeploy.context(log=context.log.info)
        info = pin_taskset(ctx, iterdeploy.dvc_executable) if iterdeploy.dvc_enabled() else taskset(ctx)
        md = {k: metadata_value(v) for k, v in info.items()}
        md5 = dvc.read_pin(ctx.root).get("md5")
        md["dvc_md5"] = dg.MetadataValue.text(md5 or "-")
        md["path"] = dg.MetadataValue.path(str(ctx.path(str(ctx.layout.tasks))))
        return dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(md5) if md5 else None)

    return _taskset


def build_assets(params: LoopParams) -> list[dg.AssetsDefinition]:
    """Every asset of the loop, in dependency order."""
    stages = pipeline(params)
    upstream = dagster_upstream(stages)
    shared = shared_ancestors(stages)
    return [taskset_asset(params)] + [stage_asset(s, upstream[s.name], shared[s.name]) for s in stages]
