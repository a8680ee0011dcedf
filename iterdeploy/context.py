"""What every stage works in: the checked parameters, the project root, run settings, seeds and the task set.

`Context` is what differs between a laptop and a cluster (threads, device, logging); the faces (the CLI
that dvc.yaml runs, the Dagster resource) build one and pass it to `iterdeploy.stages`.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from iterdeploy.config import Params, load_params
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.layout import Layout


# --------------------------------------------------------------------------- configuration


def _check_tasks(tasks: dict) -> None:
    from iterdeploy.tasks.spec import TaskSetSpec

    TaskSetSpec.from_dict(tasks, "tasks")


def _check_embedded(embedded: dict) -> None:
    from iterdeploy.model import EmbeddedModelConfig

    try:
        EmbeddedModelConfig.from_dict(embedded, "model.embedded")
    except ConfigError as exc:  # name the params key, not the class
        cause = exc.cause.replace("EmbeddedModelConfig.", "model.embedded.")
        raise ConfigError(cause if cause.startswith("model.embedded") else f"model.embedded: {cause}") from None


CHECKERS = {"tasks": _check_tasks, "model.embedded": _check_embedded}


def load_config(path: str | Path = "params.yaml", overrides: dict | None = None) -> Params:
    """params.yaml, fully checked: our sections here, `tasks` and `model.embedded` by their layers."""
    return load_params(path, overrides, CHECKERS)


@dataclass
class Context:
    """Where the project is and how to run: what differs between a laptop and a cluster."""

    root: Path
    params: Params
    threads: int | None = None
    """Override of params `threads` (a Dagster resource may set it); None: use params."""
    device: str | None = None
    """Override of params `device`."""
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))
    progress: bool = True

    @property
    def layout(self) -> Layout:
        return Layout(self.params)

    @property
    def n_threads(self) -> int:
        return self.threads or self.params.threads

    @property
    def dev(self) -> str:
        return self.device or self.params.device

    def path(self, rel: str) -> Path:
        return self.root / rel


def make_context(root: str | Path = ".", params_file: str = "params.yaml", **kw: Any) -> Context:
    root = Path(root).resolve()
    return Context(root=root, params=load_config(root / params_file), **kw)


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any labels (stable across platforms and Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def prompt_seed(task_id: str) -> int:
    """The object renaming seed of a task's prompt: the same in deployment, training and evaluation."""
    return derive_seed("prompt", task_id)


# --------------------------------------------------------------------------- task set


def manifest(ctx: Context, split: str | None = None) -> pd.DataFrame:
    from iterdeploy.tasks.taskset import load_manifest

    df = load_manifest(ctx.path(str(ctx.layout.tasks)))
    if split is not None:
        df = df[df["split"] == split]
        if df.empty:
            raise ConfigError(f"the task set has no tasks in split {split!r}", ctx.layout.tasks)
    return df.sort_values("task_id", kind="mergesort").reset_index(drop=True)


class TaskCache:
    """Compiled tasks of the task set, by task id, loaded once each."""

    def __init__(self, ctx: Context):
        self.root = ctx.path(str(ctx.layout.tasks))
        self.rows = manifest(ctx).set_index("task_id")
        self.cache: dict[str, Any] = {}

    def get(self, row) -> Any:
        from iterdeploy.tasks.taskset import load_taskset_task

        tid = row["task_id"]
        if tid not in self.cache:
            if tid not in self.rows.index:
                raise IterdeployError(f"task {tid!r} is not in the task set", self.root)
            paths = self.rows.loc[tid]
            self.cache[tid] = load_taskset_task(self.root, {"domain_path": paths["domain_path"],
                                                            "problem_path": paths["problem_path"]})
        return self.cache[tid]
