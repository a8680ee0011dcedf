"""DVC, as a subprocess, and the generator of dvc.yaml.

DVC lives in its own virtual environment (`.venv-dvc`, see scripts/setup.sh): its
hydra-core pins antlr4-python3-runtime 4.9 while Dagster needs 4.13, so the two
cannot share one. Nothing here imports dvc; every call is `dvc ...` in a child
process with analytics off and the main environment's `bin/` first on PATH, so
the stage commands DVC runs (`iterdeploy stage ...`) find this package.

dvc.yaml is generated from params.yaml (`iterdeploy dvcgen`) because DVC has no
loops or arithmetic: one stage per artifact, unrolled over `generations`.
The checked-in file must equal `render_dvc_yaml(params)` (a test asserts it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import yaml

from iterdeploy.config import Params
from iterdeploy.errors import IterdeployError
from iterdeploy.layout import DATA_DVC, Layout

DVC_ENV_VAR = "ITERDEPLOY_DVC"
"""Environment variable naming the dvc executable (overrides the search)."""


class DvcError(IterdeployError):
    """dvc is missing or a dvc command failed."""


def find_dvc(explicit: str | None = None, root: str | Path | None = None) -> str:
    """The dvc executable: `explicit`, $ITERDEPLOY_DVC, <root>/.venv-dvc/bin/dvc, the checkout's
    .venv-dvc, or `dvc` on PATH."""
    candidates = [explicit, os.environ.get(DVC_ENV_VAR)]
    for base in (root, Path(__file__).resolve().parents[1]):
        if base is not None:
            candidates.append(str(Path(base) / ".venv-dvc" / "bin" / "dvc"))
    for c in candidates:
        if c and (Path(c).is_file() or shutil.which(c)):
            return str(Path(c)) if Path(c).is_file() else shutil.which(c)  # type: ignore[return-value]
    found = shutil.which("dvc")
    if found:
        return found
    raise DvcError("dvc not found: run scripts/setup.sh (installs it in .venv-dvc) or set "
                   f"{DVC_ENV_VAR} to the dvc executable")


def dvc_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DVC_NO_ANALYTICS"] = "1"
    # Stage commands run `iterdeploy`: put this interpreter's bin/ first, whatever venv dvc runs from.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    return env


def run(args: Sequence[str], cwd: str | Path = ".", dvc: str | None = None, check: bool = True,
        capture: bool = True, retries: int = 5) -> subprocess.CompletedProcess:
    """`dvc ARGS` in `cwd`. Retries while another dvc process holds the repository lock."""
    exe = find_dvc(dvc, cwd)
    for attempt in range(retries + 1):
        proc = subprocess.run([exe, *args], cwd=cwd, env=dvc_env(), text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
        text = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0 and attempt < retries:
            if "is busy, it is being blocked by" in text and clear_stale_locks(cwd):
                continue
            if "Unable to acquire lock" in text or "is busy, it is being blocked by" in text:
                time.sleep(1 + attempt)
                continue
        break
    if check and proc.returncode != 0:
        detail = " ".join(((proc.stderr or "") + (proc.stdout or "")).split())[-400:]
        raise DvcError(f"`dvc {' '.join(args)}` failed (exit {proc.returncode}): {detail}", cwd)
    return proc


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.is_file():  # a recycled pid that is not dvc does not hold the lock
        return b"dvc" in cmdline.read_bytes()
    return True


def clear_stale_locks(root: str | Path = ".") -> bool:
    """Remove .dvc/tmp/rwlock when every process it names is gone (a dvc killed mid-stage leaves it
    behind, and DVC then refuses to run: "... is busy ... manually remove rwlock"). True if removed."""
    path = Path(root) / ".dvc" / "tmp" / "rwlock"
    if not path.is_file():
        return False
    try:
        info = json.loads(path.read_text() or "{}")
    except ValueError:
        info = {}
    pids = set()
    for mode in ("read", "write"):
        for entries in (info.get(mode) or {}).values():
            for e in entries if isinstance(entries, list) else [entries]:
                if isinstance(e, dict) and isinstance(e.get("pid"), int):
                    pids.add(e["pid"])
    if not pids or any(_alive(pid) for pid in pids):
        return False  # no holder (DVC leaves an empty lock file after every run), or one still running
    path.unlink(missing_ok=True)
    return True


def commit(targets: Sequence[str], cwd: str | Path = ".", dvc: str | None = None) -> None:
    """`dvc commit -f TARGETS`: record the current deps and outs of these stages in dvc.lock (and the cache)."""
    run(["commit", "-f", *targets], cwd=cwd, dvc=dvc)


def status(targets: Sequence[str] = (), cwd: str | Path = ".", dvc: str | None = None) -> dict:
    """`dvc status --json`: {} when the pipeline (or the targets) are up to date."""
    proc = run(["status", "--json", *targets], cwd=cwd, dvc=dvc)
    out = proc.stdout.strip()
    return json.loads(out) if out else {}


def init_repo(cwd: str | Path, dvc: str | None = None) -> None:
    """`dvc init` (if needed) with analytics off and auto-staging on."""
    cwd = Path(cwd)
    if not (cwd / ".dvc").is_dir():
        run(["init", "-q"], cwd=cwd, dvc=dvc)
    run(["config", "core.analytics", "false"], cwd=cwd, dvc=dvc)
    run(["config", "core.autostage", "true"], cwd=cwd, dvc=dvc)


def read_lock(root: str | Path = ".") -> dict:
    """dvc.lock as a mapping ({} when there is none)."""
    path = Path(root) / "dvc.lock"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def read_pin(root: str | Path = ".") -> dict:
    """The pin of the task set: data.dvc's single output ({} when absent)."""
    path = Path(root) / DATA_DVC
    if not path.is_file():
        return {}
    outs = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("outs") or [{}]
    return outs[0]


# --------------------------------------------------------------------------- dvc.yaml

HEADER = """\
# GENERATED by `iterdeploy dvcgen` from params.yaml; do not edit by hand.
# One stage per artifact, unrolled over params.yaml `generations` (DVC has no loops).
# Run the loop: `iterdeploy run` (or `dvc repro`); a variant: `dvc exp run -S curation.per_task=first`.
# The task set data/tasks is pinned by data.dvc (rebuild: `iterdeploy run` or see docs/pipeline.md).
"""


def render_dvc_yaml(params: Params) -> str:
    """The text of dvc.yaml for `params`."""
    layout = Layout(params)
    stages = {}
    for s in layout.stages():
        body: dict = {"cmd": s.cmd}
        if s.deps:
            body["deps"] = list(s.deps)
        body["params"] = list(s.params)
        body["outs"] = list(s.outs) + list(s.plots)
        if s.metrics:
            body["metrics"] = list(s.metrics)
        if s.always_changed:
            body["always_changed"] = True
        stages[s.name] = body
    last = layout.last_gen
    doc = {
        "stages": stages,
        "plots": [
            {layout.history(last): {"x": "generation", "y": ["solved_greedy", "solved_pass_at_k"],
                                    "title": "Solved fraction of the test tasks", "x_label": "generation",
                                    "y_label": "solved"}},
            # DVC plot ids are paths or names; plan length is a second view of the same file.
            {"plan-length": {"x": "generation", "y": {layout.history(last): ["mean_length_greedy", "max_length"]},
                             "title": "Valid plan length", "x_label": "generation", "y_label": "steps"}},
            layout.progress(last),
        ],
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=120)


def write_dvc_yaml(params: Params, root: str | Path = ".") -> tuple[Path, bool]:
    """Write dvc.yaml under `root` if it differs; return (path, changed)."""
    path = Path(root) / "dvc.yaml"
    text = render_dvc_yaml(params)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path, False
    from iterdeploy.artifacts import write_text

    write_text(path, text)
    return path, True
