"""The task set and its DVC pin (data.dvc): rebuilt from params, never trusted as found.

The task set is not stored anywhere: the generators are byte-deterministic for a spec and seed,
so `data/tasks` is rebuilt from params.yaml `tasks` and checked against the hash data.dvc pins.
A folder edited by hand is rebuilt, not pinned; only a rebuilt set that still differs is an error.
"""

from __future__ import annotations

from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline import dvc
from iterdeploy.pipeline.context import Context
from iterdeploy.pipeline.layout import DATA_DVC
from iterdeploy.pipeline.stages import taskset
from iterdeploy.tasks.taskset import build_taskset


def _rebuild(ctx: Context) -> str:
    build_taskset(ctx.params.tasks, ctx.path(str(ctx.layout.tasks)), ctx.root)
    ctx.__dict__.pop("tasks", None)  # the cached reader saw the old folder
    return dvc.md5(ctx.path(ctx.layout.pinned_dir))


def _cached(ctx: Context, digest: str) -> bool:
    plain = digest.removesuffix(".dir")
    return (ctx.root / ".dvc" / "cache" / "files" / "md5" / plain[:2] / (plain[2:] + ".dir")).is_file()


def pin_taskset(ctx: Context, dvc_exe: str | None = None, repin: bool = False) -> dict:
    """Build the task set if needed and make sure it is the one data.dvc pins.

    No pin yet, or `repin`: rebuild from params and `dvc add` it (commit data.dvc with git). A folder
    whose hash differs from the pin is rebuilt from params; if the rebuilt set still differs, either
    `tasks` changed in params.yaml (re-pin) or the generators no longer reproduce the pinned set."""
    folder = ctx.layout.pinned_dir
    pin_path = ctx.root / DATA_DVC
    if repin or not pin_path.is_file():
        _rebuild(ctx)
        ctx.log(f"taskset: pinning {folder}/ in {DATA_DVC} (dvc add); commit {DATA_DVC} with git")
        dvc.run(["add", folder], cwd=ctx.root, dvc=dvc_exe)
        return {**taskset(ctx), "pinned": True}
    info = taskset(ctx)
    expected = dvc.read_pin(ctx.root).get("md5")
    digest = dvc.md5(ctx.path(folder))
    if digest != expected:
        digest = _rebuild(ctx)
        if digest != expected:
            raise IterdeployError(
                f"{ctx.params.paths.tasks} built from the params file's `tasks` hashes to {digest}, but {DATA_DVC} pins "
                f"{expected}: if you changed `tasks` (or run another params file), re-pin with `iterdeploy run "
                f"--repin` and commit {DATA_DVC}; otherwise the generators (or a collection the spec reads) no "
                "longer reproduce the pinned task set", DATA_DVC)
        ctx.log(f"taskset: {ctx.params.paths.tasks} differed from {DATA_DVC}; rebuilt it from params.yaml")
        info["built"] = True
    if not _cached(ctx, digest):  # a fresh clone: DVC's cache needs the objects for a clean `dvc status`
        dvc.commit([DATA_DVC], cwd=ctx.root, dvc=dvc_exe)
        ctx.log(f"taskset: {ctx.params.paths.tasks} matches {DATA_DVC} (added to the local DVC cache)")
    return {**info, "pinned": False, "md5": digest}
