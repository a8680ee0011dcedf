"""The Dagster instance of a project: $DAGSTER_HOME if set, else the project's own `.dagster/`.

The project's home holds a `dagster.yaml` with telemetry and the new-user dialog off (checked in;
everything else in the folder is local state). The UI (`DAGSTER_HOME=$PWD/.dagster dg dev`) and the
DVC reporter (`python -m dagster_project.report_dvc`) use the same instance, so the UI shows what
either tool made.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_DIR = ".dagster"
"""The project-local DAGSTER_HOME, relative to the project root."""

SETTINGS = """\
# Instance settings of this project's Dagster home (written by dagster_project.instance).
telemetry:
  enabled: false
nux:
  enabled: false
"""
"""dagster.yaml of a project-local home that has none (a temporary project, a fresh folder)."""


def instance_home(root: str | Path) -> Path:
    """$DAGSTER_HOME (made absolute) if set, else <root>/.dagster."""
    env = os.environ.get("DAGSTER_HOME")
    return Path(env).expanduser().resolve() if env else (Path(root).resolve() / HOME_DIR)


def prepare_home(root: str | Path) -> Path:
    """The instance home, created if it is the project-local one (with telemetry off). Sets DAGSTER_HOME in
    this process, so that Dagster's own helpers (telemetry, the new-user flag) look there, never in ~/.dagster."""
    home = instance_home(root)
    if "DAGSTER_HOME" not in os.environ or not os.environ["DAGSTER_HOME"]:
        home.mkdir(parents=True, exist_ok=True)
        settings = home / "dagster.yaml"
        if not settings.exists():
            settings.write_text(SETTINGS, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def open_instance(root: str | Path):
    """The project's DagsterInstance (a context manager; see prepare_home)."""
    from dagster import DagsterInstance

    home = prepare_home(root)
    if not home.is_dir():
        from iterdeploy.errors import IterdeployError

        raise IterdeployError("DAGSTER_HOME is not a folder", home)
    return DagsterInstance.from_config(str(home))
