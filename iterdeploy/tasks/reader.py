"""An opened task set: its manifest by split, and its compiled tasks by id, each read once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.planning import Task
from iterdeploy.tasks.taskset import load_manifest, load_taskset_task


class TaskSetReader:
    """The task set in `root` (manifest.parquet and the files it names)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = load_manifest(self.root).sort_values("task_id", kind="mergesort").reset_index(drop=True)
        self._by_id = self.manifest.set_index("task_id")
        self._tasks: dict[str, Task] = {}

    def split(self, name: str) -> pd.DataFrame:
        """The rows of one split, sorted by task id; an empty split is an error (a misnamed split)."""
        rows = self.manifest[self.manifest["split"] == name].reset_index(drop=True)
        if rows.empty:
            raise ConfigError(f"the task set has no tasks in split {name!r} (it has "
                              f"{', '.join(sorted(self.manifest['split'].unique()))})", self.root / "manifest.parquet")
        return rows

    def task(self, task_id: str) -> Task:
        if task_id not in self._tasks:
            if task_id not in self._by_id.index:
                raise IterdeployError(f"task {task_id!r} is not in the task set", self.root / "manifest.parquet")
            self._tasks[task_id] = load_taskset_task(self.root, self._by_id.loc[task_id].to_dict())
        return self._tasks[task_id]

    def row(self, task_id: str) -> pd.Series:
        return self._by_id.loc[task_id]
