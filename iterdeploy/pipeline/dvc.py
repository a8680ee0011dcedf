"""DVC: the one module that runs it (as a subprocess) and reads its files (dvc.lock, data.dvc).

DVC lives in its own virtual environment (`.venv-dvc`, see scripts/setup.sh): its
hydra-core pins antlr4-python3-runtime 4.9 while Dagster needs 4.13, so the two
cannot share one. Nothing here imports dvc; every call is `dvc ...` in a child
process with analytics off and the main environment's `bin/` first on PATH, so
the stage commands DVC runs (`iterdeploy stage ...`) find this package.

`md5` computes a file's or folder's hash exactly as DVC records it in dvc.lock, so any
consumer (a stage run by Dagster, the report, lineage) can check that the bytes it reads
are the bytes DVC recorded, without running DVC.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import yaml

from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline.layout import DATA_DVC

DVC_ENV_VAR = "ITERDEPLOY_DVC"
"""Environment variable naming the dvc executable (overrides the search)."""


class DvcError(IterdeployError):
    """dvc is missing or a dvc command failed."""


def find_dvc(explicit: str | None = None, root: str | Path | None = None) -> str:
    """The dvc executable: `explicit`, $ITERDEPLOY_DVC, <root>/.venv-dvc/bin/dvc, the checkout's
    .venv-dvc, or `dvc` on PATH."""
    candidates = [explicit, os.environ.get(DVC_ENV_VAR)]
    for base in (root, Path(__file__).resolve().parents[2]):
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


def _lock_pids(root: str | Path) -> set[int] | None:
    """The pids .dvc/tmp/rwlock names (None: no lock file)."""
    path = Path(root) / ".dvc" / "tmp" / "rwlock"
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text() or "{}")
    except ValueError:
        info = {}
    pids = set()
    for mode in ("read", "write"):
        for entries in ((info.get(mode) or {}) if isinstance(info, dict) else {}).values():
            for e in entries if isinstance(entries, list) else [entries]:
                if isinstance(e, dict) and isinstance(e.get("pid"), int):
                    pids.add(e["pid"])
    return pids


def lock_held(root: str | Path = ".") -> bool:
    """Whether a live dvc process holds the repository's lock (a stage may be running)."""
    pids = _lock_pids(root)
    return bool(pids) and any(_alive(pid) for pid in pids)


def clear_stale_locks(root: str | Path = ".") -> bool:
    """Remove .dvc/tmp/rwlock when every process it names is gone (a dvc killed mid-stage leaves it
    behind, and DVC then refuses to run: "... is busy ... manually remove rwlock"). True if removed."""
    pids = _lock_pids(root)
    if not pids or any(_alive(pid) for pid in pids):
        return False  # no holder (DVC leaves an empty lock file after every run), or one still running
    (Path(root) / ".dvc" / "tmp" / "rwlock").unlink(missing_ok=True)
    return True


def commit(targets: Sequence[str], cwd: str | Path = ".", dvc: str | None = None) -> None:
    """`dvc commit -f TARGETS`: record the current deps and outs of these stages in dvc.lock (and the cache)."""
    run(["commit", "-f", *targets], cwd=cwd, dvc=dvc)


def status(targets: Sequence[str] = (), cwd: str | Path = ".", dvc: str | None = None) -> dict:
    """`dvc status --json`: {} when the pipeline (or the targets) are up to date."""
    proc = run(["status", "--json", *targets], cwd=cwd, dvc=dvc)
    out = proc.stdout.strip()
    return json.loads(out) if out else {}


PLOTS_TEMPLATE = Path(__file__).with_name("dvc_plots.html")
"""DVC's plot page with Vega inlined (scripts/build_plots_template.sh): `dvc plots show` works offline."""


def init_repo(cwd: str | Path, dvc: str | None = None) -> None:
    """`dvc init` (if needed) with analytics off, auto-staging on and the offline plot page."""
    cwd = Path(cwd)
    if not (cwd / ".dvc").is_dir():
        run(["init", "-q"], cwd=cwd, dvc=dvc)
    run(["config", "core.analytics", "false"], cwd=cwd, dvc=dvc)
    run(["config", "core.autostage", "true"], cwd=cwd, dvc=dvc)
    run(["config", "plots.html_template", str(PLOTS_TEMPLATE)], cwd=cwd, dvc=dvc)


def has_remote(root: str | Path = ".") -> bool:
    """Whether the repository configures a DVC remote (in .dvc/config or .dvc/config.local)."""
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser()
        try:
            parser.read(Path(root) / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if any(section.strip().startswith("remote ") for section in parser.sections()):
            return True
    return False


NO_REMOTE_NOISE = "Use `dvc push` to send your updates to remote storage."
"""What `dvc repro` prints after every run, remote or not; `iterdeploy run` drops it when there is none."""


def _read_yaml_file(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DvcError(f"{what} is not readable YAML ({first[:120]}); restore it with `git checkout {path.name}`",
                       path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DvcError(f"{what} is not a mapping; restore it with `git checkout {path.name}`", path)
    return data


def read_lock(root: str | Path = ".") -> dict:
    """dvc.lock's stages: {stage name: {deps, params, outs}} ({} when there is no lock)."""
    path = Path(root) / "dvc.lock"
    if not path.is_file():
        return {}
    stages = _read_yaml_file(path, "dvc.lock").get("stages") or {}
    if not isinstance(stages, dict):
        raise DvcError("dvc.lock has no stages mapping; restore it with `git checkout dvc.lock`", path)
    return stages


def locked_outs(lock: dict, stage: str) -> dict[str, str | None]:
    """{path: md5} of a stage's outputs as dvc.lock records them ({} when the stage is not in the lock)."""
    entries = (lock.get(stage) or {}).get("outs") or []
    return {e.get("path"): e.get("md5") for e in entries if isinstance(e, dict)}


def locked_deps(lock: dict, stage: str) -> dict[str, str | None]:
    entries = (lock.get(stage) or {}).get("deps") or []
    return {e.get("path"): e.get("md5") for e in entries if isinstance(e, dict)}


def cache_path(root: str | Path, md5_hash: str) -> Path:
    """Where DVC 3's local cache keeps a file with this md5."""
    return Path(root) / ".dvc" / "cache" / "files" / "md5" / md5_hash[:2] / md5_hash[2:]


def locked_files_at(root: str | Path, rev: str, pattern: re.Pattern[str]) -> dict[str, bytes]:
    """{path: bytes} of the outputs matching `pattern` in revision `rev`'s dvc.lock, read from the local
    cache and checked against their md5; a file the cache lacks (or that hashes otherwise) is left out."""
    try:
        shown = subprocess.run(["git", "show", f"{rev}:dvc.lock"], cwd=root, capture_output=True, check=True)
        stages = (yaml.safe_load(shown.stdout.decode("utf-8")) or {}).get("stages") or {}
    except (OSError, subprocess.CalledProcessError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return {}
    found = {}
    for name in stages if isinstance(stages, dict) else {}:
        for path, digest in locked_outs(stages, name).items():
            if not (isinstance(path, str) and isinstance(digest, str) and pattern.search(path)):
                continue
            cached = cache_path(root, digest)
            if cached.is_file() and file_md5(cached) == digest:
                found[path] = cached.read_bytes()
    return found


def read_pin(root: str | Path = ".") -> dict:
    """The pin of the task set: data.dvc's single output ({} when absent)."""
    path = Path(root) / DATA_DVC
    if not path.is_file():
        return {}
    outs = _read_yaml_file(path, DATA_DVC).get("outs") or [{}]
    return outs[0] if isinstance(outs, list) and isinstance(outs[0], dict) else {}


def file_md5(path: str | Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def md5(path: str | Path) -> str:
    """The hash DVC records for `path`: md5 of a file's bytes, or for a folder the md5 of the sorted
    list of its files' relative paths and md5s (DVC's `.dir` object), with '.dir' appended."""
    path = Path(path)
    if path.is_file():
        return file_md5(path)
    entries = sorted(({"md5": file_md5(f), "relpath": f.relative_to(path).as_posix()}
                      for f in path.rglob("*") if f.is_file()), key=lambda e: e["relpath"])
    digest = hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8"), usedforsecurity=False).hexdigest()
    return digest + ".dir"
