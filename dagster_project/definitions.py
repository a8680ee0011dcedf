"""The code location: `dagster dev -m dagster_project.definitions -h 127.0.0.1`.

The generations come from params.yaml in the project folder ($ITERDEPLOY_ROOT, else this checkout):
reload the code location after changing `generations`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dagster_project.defs.assets import build_assets
from dagster_project.defs.checks import build_checks
from dagster_project.defs.resources import IterdeployResource, default_root
from iterdeploy.pipeline.params import load_params


def build_definitions(project_dir: str | Path | None = None, params_file: str = "params.yaml",
                      **resource_config) -> dg.Definitions:
    """Definitions for the project in `project_dir` (tests build them for a temporary project)."""
    root = Path(project_dir or default_root()).resolve()
    params = load_params(root / params_file)
    assets = build_assets(params)
    resource = IterdeployResource(project_dir=str(root), params_file=params_file, **resource_config)
    jobs = [dg.define_asset_job("loop", selection=dg.AssetSelection.all(),
                                description="The whole loop: task set, generation 0, every generation.")]
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks(params),
        jobs=jobs,
        resources={"iterdeploy": resource},
        # One stage at a time: stages use every thread they are given, and dvc commits take a repo lock.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
