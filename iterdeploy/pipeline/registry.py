"""The stage registry: every artifact of the loop, what makes it, what it reads, where it lives.

Everything that knows the pipeline's shape iterates this one list: `iterdeploy stage`, the
dvc.yaml generator, the Dagster asset factory and its checks, lineage and the report. Adding an
artifact is one function in `stages.py` and one `Artifact` entry here.

Per generation g the graph is

    checkpoint(g-1) -> samples(g) -> validated_plans(g) -> curated_dataset(g) -> checkpoint(g) -> evaluation(g)

plus the task set (pinned by data.dvc, read by most stages), the accumulation edge
curated(g-1) -> curated(g), the base edge checkpoint(0) -> checkpoint(g), and
evaluation(g-1) -> evaluation(g) (history, newly solved and lost tasks).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable

from iterdeploy.artifacts import read_json, write_json
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.pipeline import dvc, stages
from iterdeploy.pipeline.context import Context
from iterdeploy.pipeline.layout import DATA_DVC, Layout, gen_name, stage_name
from iterdeploy.model.sampling_config import result_fields
from iterdeploy.pipeline.params import Deployment, Evaluation, LoopParams

TASKSET = "taskset"
"""The task set: not a stage of dvc.yaml (data.dvc pins it), an upstream of most stages."""

Ref = tuple[str, int]
"""(artifact name, generation) of an input; the task set is (TASKSET, 0)."""


@dataclass(frozen=True)
class Artifact:
    name: str
    make: Callable[[Context, int], dict]
    """The stage function (iterdeploy.pipeline.stages)."""
    description: str
    kinds: frozenset[str]
    """What it is made of, for Dagster's asset graph."""
    first_gen: int
    """The first generation that has this artifact (0 or 1)."""
    outs: Callable[[Layout, int], tuple[str, ...]]
    """Cached outputs (DVC outs)."""
    inputs: Callable[[int], tuple[Ref, ...]]
    """The artifacts it reads, by generation."""
    params: Callable[[int], tuple[str, ...]]
    """The params.yaml keys it reads (dotted), by generation."""
    metrics: Callable[[Layout, int], tuple[str, ...]] = lambda lay, g: ()
    plots: Callable[[Layout, int], tuple[str, ...]] = lambda lay, g: ()


RUN = ("runtime", "model")
# A sampling section's DVC params are its fields but the execution ones (executor, ray_*): Ray writes the
# local executor's bytes, so running a stage on a cluster, or pulling one that ran there, re-runs nothing.
SAMPLING = tuple(f"sampling.{name}" for name in result_fields(Deployment))
EVALUATION = tuple(f"evaluation.{name}" for name in result_fields(Evaluation))


def _checkpoint_inputs(g: int) -> tuple[Ref, ...]:
    if g == 0:
        return ()
    return ((TASKSET, 0), ("curated_dataset", g), ("checkpoint", 0)) + ((("checkpoint", g - 1),) if g > 1 else ())


ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "samples", stages.samples,
        "Model g-1 on the deployment tasks: K sampled completions per task (Parquet).",
        frozenset({"pytorch", "parquet"}), 1,
        outs=lambda lay, g: (lay.samples(g),),
        inputs=lambda g: ((TASKSET, 0), ("checkpoint", g - 1)),
        params=lambda g: RUN + SAMPLING),
    Artifact(
        "validated_plans", stages.validated_plans,
        "Every sample with its typed verdict (valid, error kind, step, atoms) and plan length.",
        frozenset({"pandas", "parquet"}), 1,
        outs=lambda lay, g: (lay.validated(g),),
        inputs=lambda g: ((TASKSET, 0), ("checkpoint", 0), ("samples", g)),
        params=lambda g: ("model",)),
    Artifact(
        "curated_dataset", stages.curated_dataset,
        "Training data of generation g: by default valid plans only, the shortest per task, accumulated over "
        "generations 1..g; every row keeps its origin.",
        frozenset({"pandas", "parquet"}), 1,
        outs=lambda lay, g: (lay.curated(g),),
        inputs=lambda g: (("validated_plans", g),) + ((("curated_dataset", g - 1),) if g > 1 else ()),
        params=lambda g: ("curation",)),
    Artifact(
        "checkpoint", stages.checkpoint,
        "Model of this generation: generation 0 refers to the base model folder (path and hash); generation g "
        "is fine-tuned on curated_dataset(g).",
        frozenset({"pytorch", "huggingface"}), 0,
        outs=lambda lay, g: (lay.checkpoint(g),),
        inputs=_checkpoint_inputs,
        # Generation 0 depends on the base folder through params (model.path and the model.sha256 it must
        # hash to), not as a DVC dependency: the base may live anywhere on disk, and the pre-training
        # pipeline that writes the shipped one must never become an upstream stage of the loop. Every stage
        # that loads the base checks its hash against generation 0's reference.
        params=lambda g: ("model",) if g == 0 else RUN + ("training",)),
    Artifact(
        "evaluation", stages.evaluation,
        "Held-out test tasks: solved tasks per domain (greedy) and pass@k, the longest valid plan, the collapse "
        "monitors (metrics.json); per size, lengths, errors, newly solved and lost tasks (details.json); plots.",
        frozenset({"pytorch", "json"}), 0,
        outs=lambda lay, g: (lay.evaluation(g), lay.details(g)),
        inputs=lambda g: ((TASKSET, 0), ("checkpoint", 0), ("checkpoint", g))
        + ((("validated_plans", g), ("curated_dataset", g), ("evaluation", g - 1)) if g > 0 else ())
        + ((("curated_dataset", g - 1),) if g > 1 else ()),
        params=lambda g: RUN + EVALUATION,
        metrics=lambda lay, g: (lay.metrics(g),),
        plots=lambda lay, g: (lay.history(g), lay.progress(g))),
)
BY_NAME = {a.name: a for a in ARTIFACTS}


@dataclass(frozen=True)
class Stage:
    """One artifact of one generation: a dvc.yaml stage, a Dagster asset."""

    artifact: Artifact
    gen: int
    deps: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str, ...]
    plots: tuple[str, ...]
    upstream: tuple[str, ...]
    """Names of the stages whose outputs it reads ('taskset' for the task set)."""

    @property
    def name(self) -> str:
        return stage_name(self.gen, self.artifact.name)

    @property
    def group(self) -> str:
        return gen_name(self.gen)

    @property
    def all_outs(self) -> tuple[str, ...]:
        return self.outs + self.metrics + self.plots

    @property
    def cmd(self) -> str:
        return f"iterdeploy stage {self.artifact.name} --gen {self.gen}"


def _stage(lay: Layout, artifact: Artifact, gen: int) -> Stage:
    refs = artifact.inputs(gen)
    deps, upstream = [], []
    for name, g in refs:
        if name == TASKSET:
            deps.append(str(lay.tasks))
            upstream.append(TASKSET)
            continue
        producer = BY_NAME[name]
        deps += producer.outs(lay, g) + producer.metrics(lay, g) + producer.plots(lay, g)
        upstream.append(stage_name(g, name))
    return Stage(artifact, gen, tuple(dict.fromkeys(deps)), artifact.params(gen), artifact.outs(lay, gen),
                 artifact.metrics(lay, gen), artifact.plots(lay, gen), tuple(dict.fromkeys(upstream)))


def pipeline(params: LoopParams) -> list[Stage]:
    """Every stage, in an order that respects dependencies: generation 0, then 1..N."""
    lay = Layout.of(params)
    out = []
    for gen in [0] + params.gens:
        out += [_stage(lay, a, gen) for a in ARTIFACTS if a.first_gen <= gen]
    return out


def find_stage(params: LoopParams, artifact: str, gen: int) -> Stage:
    if artifact not in BY_NAME:
        raise ConfigError(f"unknown stage {artifact!r}; expected {TASKSET} or one of {', '.join(BY_NAME)}")
    for s in pipeline(params):
        if s.artifact.name == artifact and s.gen == gen:
            return s
    raise ConfigError(f"stage {artifact} of generation {gen} is not in the pipeline (generations 0..{params.generations}"
                      f"; {artifact} from generation {BY_NAME[artifact].first_gen})")


def producers(params: LoopParams) -> dict[str, Stage]:
    """Output path -> the stage that makes it."""
    return {path: s for s in pipeline(params) for path in s.all_outs}


# --------------------------------------------------------------------------- running


def verify_inputs(ctx: Context, stage: Stage) -> list[str]:
    """Check that every input file is the one dvc.lock records for the stage that made it (so a stage never
    trains on, or reports, a file swapped or edited behind DVC's back). Returns the inputs that could not
    be checked (no DVC lock entry); raises on a mismatch."""
    lock = dvc.read_lock(ctx.root)
    made = producers(ctx.params)
    unchecked = []
    for path in stage.deps:
        if path == str(ctx.layout.tasks):
            recorded = dvc.read_pin(ctx.root)
            if recorded.get("path") != ctx.layout.pinned_dir:
                unchecked.append(path)
                continue
            expected, on_disk, source = recorded.get("md5"), dvc.md5(ctx.path(ctx.layout.pinned_dir)), DATA_DVC
        else:
            producer = made[path]
            expected = dvc.locked_outs(lock, producer.name).get(path)
            if expected is None:
                unchecked.append(path)
                continue
            if not ctx.path(path).exists():
                raise IterdeployError(f"input of {stage.name} is missing (dvc.lock records it for {producer.name}); "
                                      "run `iterdeploy run` to restore or re-make it", path)
            on_disk, source = dvc.md5(ctx.path(path)), f"dvc.lock ({producer.name})"
        if on_disk != expected:
            raise IterdeployError(f"input of {stage.name} differs from what {source} records (md5 {on_disk[:12]} vs "
                                  f"{str(expected)[:12]}): it was changed outside the pipeline; run `iterdeploy run` "
                                  "to restore or re-make it", path)
    return unchecked


def run_stage(ctx: Context, artifact: str, gen: int, verify: bool = True) -> dict:
    """Run one stage by name (`taskset` ignores `gen`), after checking its inputs against DVC's records."""
    if artifact == TASKSET:
        return stages.taskset(ctx)
    stage = find_stage(ctx.params, artifact, gen)
    if verify:
        unchecked = verify_inputs(ctx, stage)
        if unchecked and (ctx.root / ".dvc").is_dir():
            ctx.log(f"{stage.name}: not verified against dvc.lock (no record yet): {', '.join(unchecked)}")
    t0 = time.perf_counter()
    with contextlib.chdir(ctx.root):  # model folders are named relative to the project root
        summary = stage.artifact.make(ctx, gen)
    seconds = round(time.perf_counter() - t0, 1)
    _record_timing(ctx, stage, seconds)
    return {**summary, "seconds": seconds}


def _record_timing(ctx: Context, stage: Stage, seconds: float) -> None:
    """runs/gen_NNN/timings.json: wall-clock seconds per stage, with the md5 of what that run wrote, so a
    reader can tell whether a timing describes the artifact on disk (timings are not artifacts)."""
    path = ctx.path(ctx.layout.timings(stage.gen))
    try:
        data = read_json(path, "timings") if path.is_file() else {}
    except IterdeployError:
        data = {}
    data[stage.artifact.name] = {"seconds": seconds, "threads": ctx.params.runtime.threads,
                                 "md5": dvc.md5(ctx.path(stage.outs[0]))}
    write_json(path, data)
