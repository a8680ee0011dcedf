"""Artifacts on disk: atomic writes and content hashes.

Every artifact is written under a temporary name in its destination directory and
renamed when complete, so an interrupted run never leaves a partial file that looks
finished. Hashes are sha256 over bytes (files) or over sorted relative paths and
file bytes (directories), so they are stable across machines.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from iterdeploy.errors import IterdeployError


def _tmp_sibling(path: Path, directory: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(tmp: Path, directory: bool) -> None:
    """mkstemp/mkdtemp make 0600/0700: give the finished artifact the mode a plain open() would."""
    os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path` (replacing it)."""
    path = Path(path)
    tmp = _tmp_sibling(path, directory)
    try:
        yield tmp
        _publish_mode(tmp, directory)
        if directory:
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                path.rename(old)
                tmp.rename(path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink()


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove what interrupted atomic writes left under `folder` (`.name.XXXX.tmp` and `.name.old`);
    call only when no stage is running. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old")))
    removed = []
    for p in found:
        if not p.exists():
            continue  # inside a folder removed a moment ago
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: str | Path, df: pd.DataFrame) -> Path:
    """Deterministic Parquet: same frame, same bytes (no index, no timestamps)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    return Path(path)


def file_hash(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(path: str | Path) -> str:
    """Hash of a file, or of a directory's relative paths and contents (hidden temp files excluded)."""
    path = Path(path)
    if path.is_file():
        return file_hash(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(f.relative_to(path).as_posix().encode() + b"\0" + file_hash(f).encode() + b"\n")
    return h.hexdigest()


def read_parquet(path: str | Path, what: str, columns=()) -> pd.DataFrame:
    """A Parquet artifact, or an IterdeployError naming the file: missing, unreadable, or lacking `columns`."""
    path = Path(path)
    if not path.is_file():
        raise IterdeployError(f"missing {what} (run the stage that makes it first)", path)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file; all mean the same here
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IterdeployError(f"{what} is not a readable Parquet file ({first[:120]})", path) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise IterdeployError(f"{what} lacks column(s) {', '.join(missing)}", path)
    return df


def read_json(path: str | Path, what: str):
    """A JSON artifact, or an IterdeployError naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IterdeployError(f"missing {what} (run the stage that makes it first)", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IterdeployError(f"{what} is not readable JSON ({str(exc).splitlines()[0][:120]})", path) from None
