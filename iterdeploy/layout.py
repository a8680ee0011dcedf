"""The pipeline's shape: one stage per artifact, its files, inputs and parameters.

The single source of truth for the DVC stage list (`iterdeploy.dvc.render_dvc_yaml`),
the Dagster asset factory (`dagster_project/defs/assets.py`) and lineage
(`iterdeploy.lineage`). A leaf: it only knows `Params`.

Artifacts (paths relative to the project root, `runs` = params `paths.runs`):

    data/tasks/                          task set (pinned by data.dvc, built by `iterdeploy tasks generate`)
    runs/gen_000/checkpoint/             generation 0 model (embedded bootstrap, or reference.json to a local folder)
    runs/gen_NNN/samples.parquet         model NNN-1 on the deployment tasks, K per task
    runs/gen_NNN/validated_plans.parquet every sample with its verdict and plan length
    runs/gen_NNN/curated_dataset.parquet training data of generation NNN (with origins)
    runs/gen_NNN/checkpoint/             model NNN (save_pretrained folder + model_card.json)
    runs/gen_NNN/evaluation.parquet      every decoded test plan with its verdict   \
    runs/gen_NNN/metrics.json            solved fractions, lengths, changes          } the "evaluation" artifact
    runs/gen_NNN/history.json            one row per generation 0..NNN (DVC plots)   |
    runs/gen_NNN/progress.png            plots across generations 0..NNN            /
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from iterdeploy.config import Params

ARTIFACTS = ("samples", "validated_plans", "curated_dataset", "checkpoint", "evaluation")
"""The five artifacts of every generation g >= 1, in the order they are made."""

GEN0_ARTIFACTS = ("checkpoint", "evaluation")
TASKSET = "taskset"
DATA_DVC = "data.dvc"


def gen_name(gen: int) -> str:
    return f"gen_{gen:03d}"


def stage_name(gen: int, artifact: str) -> str:
    """DVC stage name, e.g. 'gen_001-samples' (DVC names cannot contain '/')."""
    return f"{gen_name(gen)}-{artifact}"


def parse_stage_name(name: str) -> tuple[int, str]:
    head, _, artifact = name.partition("-")
    if not head.startswith("gen_") or artifact not in ARTIFACTS:
        raise ValueError(f"not a pipeline stage name: {name!r}")
    return int(head[4:]), artifact


@dataclass(frozen=True)
class Stage:
    """One artifact of the pipeline: how DVC runs it and what Dagster shows."""

    gen: int
    artifact: str
    deps: tuple[str, ...]
    """Files and folders read (relative paths)."""
    params: tuple[str, ...]
    """params.yaml keys read (dotted)."""
    outs: tuple[str, ...]
    """Cached outputs, not metrics or plots."""
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    """Names of the stages whose outputs are in `deps` (the taskset is 'taskset')."""
    always_changed: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return stage_name(self.gen, self.artifact)

    @property
    def all_outs(self) -> tuple[str, ...]:
        return self.outs + self.metrics + self.plots

    @property
    def cmd(self) -> str:
        return f"iterdeploy stage {self.artifact} --gen {self.gen}"


class Layout:
    """Paths of every artifact for a given `Params`."""

    def __init__(self, params: Params):
        self.params = params
        self.runs = PurePosixPath(params.paths.runs)
        self.tasks = PurePosixPath(params.paths.tasks)

    def gen_dir(self, gen: int) -> str:
        return str(self.runs / gen_name(gen))

    def path(self, gen: int, name: str) -> str:
        return str(self.runs / gen_name(gen) / name)

    def samples(self, gen: int) -> str:
        return self.path(gen, "samples.parquet")

    def validated(self, gen: int) -> str:
        return self.path(gen, "validated_plans.parquet")

    def curated(self, gen: int) -> str:
        return self.path(gen, "curated_dataset.parquet")

    def checkpoint(self, gen: int) -> str:
        return self.path(gen, "checkpoint")

    def evaluation(self, gen: int) -> str:
        return self.path(gen, "evaluation.parquet")

    def metrics(self, gen: int) -> str:
        return self.path(gen, "metrics.json")

    def history(self, gen: int) -> str:
        return self.path(gen, "history.json")

    def progress(self, gen: int) -> str:
        return self.path(gen, "progress.png")

    def files(self, gen: int, artifact: str) -> tuple[str, ...]:
        """Every path the artifact consists of."""
        return self.stage(gen, artifact).all_outs

    @property
    def last_gen(self) -> int:
        return max([0] + self.params.gens)

    # ------------------------------------------------------------------ stages

    def stage(self, gen: int, artifact: str) -> Stage:
        for s in self.stages():
            if s.gen == gen and s.artifact == artifact:
                return s
        raise KeyError(stage_name(gen, artifact))

    def _evaluation(self, gen: int) -> Stage:
        deps = [str(self.tasks), self.checkpoint(gen)]
        upstream = [TASKSET, stage_name(gen, "checkpoint")]
        if gen > 0:
            deps += [self.evaluation(gen - 1), self.history(gen - 1)]
            upstream.append(stage_name(gen - 1, "evaluation"))
        return Stage(gen, "evaluation", tuple(deps),
                     ("threads", "device", "model.prompt_format", "evaluation"),
                     outs=(self.evaluation(gen),), metrics=(self.metrics(gen),),
                     plots=(self.history(gen), self.progress(gen)), upstream=tuple(upstream))

    def stages(self) -> list[Stage]:
        """Every stage, in an order that respects dependencies: generation 0, then 1..N."""
        p = self.params
        out: list[Stage] = []
        if p.model.source == "embedded":
            out.append(Stage(0, "checkpoint", (str(self.tasks),),
                             ("threads", "device", "model", "bootstrap"),
                             outs=(self.checkpoint(0),), upstream=(TASKSET,)))
        else:
            # A local base model is referenced by path and content hash, never tracked: the stage re-hashes
            # the folder on every run and only a changed hash makes the generations downstream re-run.
            out.append(Stage(0, "checkpoint", (), ("model",), outs=(self.checkpoint(0),), always_changed=True))
        out.append(self._evaluation(0))
        for g in p.gens:
            ck_prev = self.checkpoint(g - 1)
            out.append(Stage(g, "samples", (str(self.tasks), ck_prev),
                             ("threads", "device", "model.prompt_format", "sampling"),
                             outs=(self.samples(g),), upstream=(TASKSET, stage_name(g - 1, "checkpoint"))))
            out.append(Stage(g, "validated_plans", (str(self.tasks), self.samples(g)),
                             ("model.prompt_format",), outs=(self.validated(g),),
                             upstream=(TASKSET, stage_name(g, "samples"))))
            deps = [self.validated(g)]
            upstream = [stage_name(g, "validated_plans")]
            if g > 1:
                deps.append(self.curated(g - 1))
                upstream.append(stage_name(g - 1, "curated_dataset"))
            out.append(Stage(g, "curated_dataset", tuple(deps), ("curation",), outs=(self.curated(g),),
                             upstream=tuple(upstream)))
            deps = [str(self.tasks), self.curated(g), self.checkpoint(0)]
            upstream = [TASKSET, stage_name(g, "curated_dataset"), stage_name(0, "checkpoint")]
            if g > 1:
                deps.append(ck_prev)
                upstream.append(stage_name(g - 1, "checkpoint"))
            out.append(Stage(g, "checkpoint", tuple(deps),
                             ("threads", "device", "model.prompt_format", "training"),
                             outs=(self.checkpoint(g),), upstream=tuple(upstream)))
            out.append(self._evaluation(g))
        return out
