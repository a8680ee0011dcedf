"""What differs between a laptop and a cluster: project folder, threads, device, executor, the dvc executable."""


import os
from pathlib import Path

import dagster as dg

from iterdeploy.pipeline.context import Context
from iterdeploy.pipeline.params import LoopParams, load_params

DEFAULT_ROOT = Path(__file__).resolve().parents[2]


def default_root() -> str:
    """$ITERDEPLOY_ROOT, else the checkout that holds dagster_project/."""
    return os.environ.get("ITERDEPLOY_ROOT", str(DEFAULT_ROOT))


class IterdeployResource(dg.ConfigurableResource):
    """The project the assets materialize in, and how stages run there."""

    project_dir: str = default_root()
    """Project root: params.yaml, dvc.yaml, data/, runs/."""
    params_file: str = "params.yaml"
    """Parameters file under the project root."""
    threads: int | None = None
    """Override params runtime.threads (null: params.yaml's; another count may change the artifacts' last bits)."""
    device: str | None = None
    """Override params runtime.device (e.g. cuda on a cluster)."""
    executor: str | None = None
    """Override sampling.executor and evaluation.executor (local or ray; the same bytes, not a DVC param)."""
    ray_address: str | None = None
    """Override sampling/evaluation ray_address: the Ray cluster to join (e.g. ray://HEAD:10001, auto)."""
    ray_workers: int | None = None
    """Override sampling/evaluation ray_workers (model replicas; null: params.yaml's)."""
    dvc_executable: str | None = None
    """dvc to run (null: .venv-dvc/bin/dvc under the project or this checkout, $ITERDEPLOY_DVC, PATH)."""
    dvc_commit: bool = True
    """After each stage, `dvc commit -f <stage>` so dvc.lock records what Dagster made (needs a DVC repo)."""

    @property
    def root(self) -> Path:
        return Path(self.project_dir).resolve()

    def overrides(self) -> dict:
        out = {}
        if self.threads is not None:
            out["runtime.threads"] = self.threads
        if self.device is not None:
            out["runtime.device"] = self.device
        for name in ("executor", "ray_address", "ray_workers"):
            if getattr(self, name) is not None:
                out.update({f"sampling.{name}": getattr(self, name), f"evaluation.{name}": getattr(self, name)})
        return out

    def params(self) -> LoopParams:
        return load_params(self.root / self.params_file, self.overrides())

    def context(self, log=None) -> Context:
        kw = {"log": log} if log is not None else {}
        return Context(root=self.root, params=self.params(), **kw)

    def dvc_enabled(self) -> bool:
        return self.dvc_commit and (self.root / ".dvc").is_dir()
