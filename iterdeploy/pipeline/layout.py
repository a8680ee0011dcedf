"""Where every artifact of the loop lives, for a given configuration. A leaf: it only knows the paths.

    data/tasks/                          the task set (pinned by data.dvc)
    runs/gen_000/checkpoint/             generation 0: base.json, the path and hash of the base model folder
    runs/gen_NNN/samples.parquet         model NNN-1 on the deployment tasks, K per task
    runs/gen_NNN/validated_plans.parquet every sample with its verdict and plan length
    runs/gen_NNN/curated_dataset.parquet training data of generation NNN (with origins)
    runs/gen_NNN/checkpoint/             model NNN (save_pretrained folder + model_card.json)
    runs/gen_NNN/evaluation.parquet      every decoded test plan with its verdict   \\
    runs/gen_NNN/metrics.json            the few numbers compared across runs        | the evaluation artifact
    runs/gen_NNN/details.json            per size, lengths, errors, changes          |
    runs/gen_NNN/history.json            one row per generation 0..NNN (DVC plots)   |
    runs/gen_NNN/progress.png            plots across generations 0..NNN            /
    runs/gen_NNN/timings.json            wall-clock seconds per stage (not an artifact)
"""

from __future__ import annotations

from pathlib import PurePosixPath

DATA_DVC = "data.dvc"


def gen_name(gen: int) -> str:
    return f"gen_{gen:03d}"


def stage_name(gen: int, artifact: str) -> str:
    """DVC stage name, e.g. 'gen_001-samples' (DVC names cannot contain '/')."""
    return f"{gen_name(gen)}-{artifact}"


class Layout:
    """Paths (relative to the project root, posix) of every artifact."""

    def __init__(self, paths, generations: int):
        self.runs = PurePosixPath(paths.runs)
        self.tasks = PurePosixPath(paths.tasks)
        self.generations = generations

    @classmethod
    def of(cls, params) -> "Layout":
        return cls(params.paths, params.generations)

    @property
    def pinned_dir(self) -> str:
        """The folder data.dvc pins: the first component of the task set path ('data')."""
        return self.tasks.parts[0]

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

    def details(self, gen: int) -> str:
        return self.path(gen, "details.json")

    def history(self, gen: int) -> str:
        return self.path(gen, "history.json")

    def progress(self, gen: int) -> str:
        return self.path(gen, "progress.png")

    def timings(self, gen: int) -> str:
        return self.path(gen, "timings.json")
