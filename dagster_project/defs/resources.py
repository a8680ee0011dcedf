"""What differs between a laptop and a cluster: project folder, threads, device, the dvc executable."""


import os
from pathlib import Path

import dagster as dg

from iterdeploy.config import Params
from iterdeploy.stages import Context, load_config

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
    """Override params `threads` (null: params.yaml's value; another count may change the artifacts' last bits)."""
    device: str | None = None
    """Override params `device` (e.g. cuda on a cluster)."""
    dvc_executable: str | None = None
    """dvc to run (null: .venv-dvc/bin/dvc under the project or this checkout, $ITERDEPLOY_DVC, PATH)."""
    dvc_commit: bool = True
    """After each stage, `dvc commit -f <stage>` so dvc.lock records what Dagster made (needs a DVC repo)."""

    @property
    def root(self) -> Path:
        return Path(self.project_dir).resolve()

    def params(self) -> Params:
        return load_config(self.root / self.params_file)

    def context(self, log=None) -> Context:
        kw = {"log": log} if log is not None else {}
        return Context(root=self.root, params=self.params(), threads=self.threads, device=self.device, **kw)

    def dvc_enabled(self) -> bool:
        return self.dvc_commit and (self.root / ".dvc").is_dir()
