"""The loop's configuration tree: params.yaml, section by section.

Each section is the dataclass of the layer that uses it (the model layer's `SamplingConfig` and
`TrainConfig`, the task layer's `TaskSetSpec`, curation's `CurationConfig`, the model runtime);
where the pipeline needs a knob of its own it extends that class (`Deployment` is a
`SamplingConfig` with the split it samples), so a section object is passed down as it is.
`describe(LoopParams)` lists every key with its type and doc.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Mapping

from iterdeploy.config import load, option
from iterdeploy.curation import CurationConfig
from iterdeploy.errors import ConfigError
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.model.training import TrainConfig
from iterdeploy.monitors import MonitorThresholds
from iterdeploy.tasks.spec import TaskSetSpec

PARAMS_FILE = "params.yaml"


def inside_project(path: str) -> str | None:
    """An `option` check: a relative path inside the project, not into .git or .dvc."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or p.parts[0] in (".", ".dvc", ".git"):
        return f"{path!r} must be a relative path inside the project (no '..', not absolute)"
    return None


@dataclass(frozen=True)
class Paths:
    tasks: str = option("data/tasks", "task set folder, pinned by data.dvc (relative to the project root)",
                        check=inside_project)
    runs: str = option("runs", "folder of the per-generation artifacts, runs/gen_NNN/... (relative)",
                       check=inside_project)


@dataclass(frozen=True)
class ModelSource:
    path: str = option("models/embedded-base", "generation 0: a local model folder (save_pretrained, safetensors), "
                                               "relative to the project root or absolute; never fetched from a hub")
    sha256: str | None = option(None, "expected content hash of that folder (`iterdeploy models hash DIR`); a "
                                      "folder that hashes otherwise is refused; null: recorded, not checked",
                                check=lambda v: None if len(v) == 64 and all(c in "0123456789abcdef" for c in v)
                                else "must be 64 lower-case hex digits (sha256)")
    prompt_format: Literal["compact", "pddl-chat"] = option(
        "compact", "compact: the embedded word-level model's token stream; pddl-chat: domain and problem PDDL "
                   "in the model's chat template")
    enable_thinking: bool | None = option(
        None, "pddl-chat: passed to chat templates that understand it (Qwen3: true lets the model reason in a "
              "<think> section before the plan); null: the template's default")

    def __post_init__(self) -> None:
        if self.enable_thinking is not None and self.prompt_format != "pddl-chat":
            raise ConfigError("enable_thinking: only the pddl-chat format has a chat template to pass it to")


@dataclass(frozen=True)
class Deployment(SamplingConfig):
    """K samples per deployment task from model g-1 (generation g's data)."""

    split: str = option("deploy", "task split the model is deployed on")


@dataclass(frozen=True)
class Evaluation(SamplingConfig):
    """Every generation's model on held-out tasks: one greedy plan and k samples per task."""

    split: str = option("test", "held-out task split, never deployed on")
    greedy: bool = option(True, "decode one greedy plan per task (the headline solved count)")
    k: int = option(4, "sampled plans per task for pass@k (0: none)", ge=0, le=10_000)

    def __post_init__(self) -> None:
        if not self.greedy and self.k == 0:
            raise ConfigError("greedy is false and k is 0; nothing would be evaluated")


@dataclass(frozen=True)
class Training(TrainConfig):
    """Fine-tuning of generation g >= 1 on curated_dataset(g)."""

    init_from: Literal["base", "previous"] = option("base", "start generation g from the base model (the paper: "
                                                            "the accumulated set, from the base) or from model g-1")


@dataclass(frozen=True)
class LoopParams:
    tasks: TaskSetSpec = option(doc="the task set: seed, splits (train, deploy, test), planner of the reference plans")
    runtime: Runtime = option(factory=Runtime, doc="threads, device and dtype of every stage")
    paths: Paths = option(factory=Paths, doc="where the task set and the runs live")
    model: ModelSource = option(factory=ModelSource, doc="the base model (generation 0) and its prompt format")
    sampling: Deployment = option(factory=Deployment, doc="deployment: K plans per task from the previous model")
    curation: CurationConfig = option(factory=CurationConfig, doc="which valid plans become training data")
    training: Training = option(factory=Training, doc="fine-tuning of every generation g >= 1")
    evaluation: Evaluation = option(factory=Evaluation, doc="held-out evaluation of every generation")
    monitors: MonitorThresholds = option(factory=MonitorThresholds, doc="when the collapse monitors warn (report "
                                                                      "flags, Dagster WARN checks); no stage reads it")
    generations: int = option(5, "generations after the base (dvc.yaml unrolls them: `iterdeploy dvcgen`)",
                              ge=0, le=1000)

    def __post_init__(self) -> None:
        for key, section in (("sampling", self.sampling), ("evaluation", self.evaluation)):
            if section.backend == "vllm" and not self.runtime.device.startswith("cuda"):
                raise ConfigError(f"{key}.backend: vllm runs on a CUDA device, but runtime.device is "
                                  f"{self.runtime.device!r}; set runtime.device: cuda or backend: transformers")
        if self.evaluation.split == self.sampling.split:
            raise ConfigError(f"evaluation.split: {self.evaluation.split!r} is the deployment split; evaluation "
                              "must use held-out tasks")
        names = self.tasks.split_names
        for key, name in (("sampling.split", self.sampling.split), ("evaluation.split", self.evaluation.split)):
            if names and name not in names:
                raise ConfigError(f"{key}: {name!r} is not a split of the task set (tasks.splits has "
                                  f"{', '.join(sorted(names))})")

    @property
    def gens(self) -> list[int]:
        """Generation numbers 1..N."""
        return list(range(1, self.generations + 1))


def load_params(path: str | Path = PARAMS_FILE, overrides: Mapping[str, Any] | None = None) -> LoopParams:
    """params.yaml (every key given), with dotted-key `overrides`; one-line ConfigError naming file and key."""
    return load(LoopParams, path, overrides, complete=True)
