"""Task sets on disk: build one from a spec or a collection, read its manifest, load its tasks.

Layout (all paths in the manifest are relative to the task set folder, posix):

    manifest.parquet                      one row per task (MANIFEST_COLUMNS)
    spec.json                             the generating spec (generated sets only)
    domains/<domain>.pddl
    <domain>/<split>/<task_id>.pddl       the problem
    <domain>/<split>/<task_id>.plan       its reference plan, IPC format with a cost footer

The set is built in a temporary folder next to `out_dir` and renamed when complete,
so an interrupted build leaves no half-written set. The same spec and seed give the
same bytes in every file.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path, PurePosixPath
from typing import Iterator

import pandas as pd

from iterdeploy.artifacts import atomic_path, write_json, write_parquet
from iterdeploy.config import to_dict
from iterdeploy.errors import ConfigError, IterdeployError
from iterdeploy.planning import Task, load_task
from iterdeploy.planning.text import excerpt
from iterdeploy.tasks.collection import Collection, collection_root, from_collection, split_records
from iterdeploy.tasks.domains import domain_path
from iterdeploy.tasks.generators import format_plan, generate_task, get_generator, params_dict
from iterdeploy.tasks.records import MANIFEST_COLUMNS, TASK_ID, TaskRecord, content_hash, params_json, task_seed
from iterdeploy.tasks.spec import TaskSetSpec

__all__ = ["build_taskset", "from_collection", "generated_records", "load_manifest", "load_taskset_task",
           "taskset_file"]


MAX_REDRAWS = 200
"""Draws per task before a size is declared too small to hold that many distinct tasks."""


def generated_records(spec: TaskSetSpec, base: str | Path | None = None) -> Iterator[TaskRecord]:
    """Every task of the spec, in the order of its splits, all distinct across splits.

    Small sizes have few distinct tasks (3-block blocksworld has 169), so a test task
    could otherwise repeat a training or deployment task and the held-out evaluation
    would not be held out. A duplicate is re-drawn with the next seed of its slot.
    Splits taken from a collection (`collection`, relative to `base`) are read first, so that no
    generated task repeats one of them; a problem that occurs twice in collections is an error.
    """
    seen: dict[str, str] = {}
    collected: dict[int, list[TaskRecord]] = {}
    for i, split in enumerate(spec.splits):
        if split.generated:
            continue
        collected[i] = list(split_records(split, base))
        for rec in collected[i]:
            digest = content_hash(rec.problem)
            if digest in seen:
                raise ConfigError(f"tasks.splits ({split.name}, {split.domain}): task {rec.task_id} is the same "
                                  f"problem as {seen[digest]}; a task set holds each task once")
            seen[digest] = rec.task_id
    for i, split in enumerate(spec.splits):
        if not split.generated:
            yield from collected[i]
            continue
        gen = get_generator(split.domain)
        for size in split.sizes:
            params = gen.from_size(size)
            for index in range(split.per_size):
                task_id = f"{split.domain}-{split.name}-s{size:02d}-{index:03d}"
                for attempt in range(MAX_REDRAWS):
                    seed = task_seed(spec.seed, split.domain, split.name, size, index, attempt)
                    task = generate_task(split.domain, params, random.Random(seed), task_id, spec.planner)
                    digest = content_hash(task.problem)
                    if digest not in seen:
                        break
                else:
                    raise ConfigError(
                        f"tasks: {split.domain} size {size} has too few distinct tasks for split {split.name!r} "
                        f"after {len(seen)} tasks (duplicate of {seen[digest]}); lower per_size or drop the size"
                    )
                seen[digest] = task_id
                yield TaskRecord(
                    task_id=task_id, domain=split.domain, split=split.name, size=size,
                    params=params_dict(params), seed=seed, problem=task.problem.encode(),
                    plan=format_plan(task.plan).encode(), reference_length=len(task.plan),
                )


def spec_domain_files(spec: TaskSetSpec, base: str | Path | None = None) -> dict[str, Path]:
    """The domain file of every domain of the spec: the collection's, else the packaged one. A domain whose
    collection and generator files differ is an error (a task set holds one domain file per domain)."""
    files: dict[str, Path] = {}
    for split in spec.splits:
        path = (collection_root(split.collection, base) / split.domain / "domain.pddl") if not split.generated \
            else domain_path(split.domain)
        known = files.setdefault(split.domain, path)
        if known != path and known.is_file() and path.is_file() and known.read_bytes() != path.read_bytes():
            raise ConfigError(f"tasks.splits: domain {split.domain} has two different domain files, {known} and "
                              f"{path}; a task set holds one domain file per domain")
    return files


def _check_target(out_dir: Path) -> None:
    # The rename replaces out_dir wholesale: only ever replace a previous task set, never other data.
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                      and not (out_dir / "manifest.parquet").is_file())):
        raise ConfigError(f"output exists and is not a task set (no manifest.parquet); not replacing it: {out_dir}")


def build_taskset(source: TaskSetSpec | Collection, out_dir: str | Path, base: str | Path | None = None) -> pd.DataFrame:
    """Write a task set for `source` (a spec, or `from_collection(...)`) to `out_dir`; return its manifest.
    A spec's collection folders are relative to `base` (the project root; default: the working directory)."""
    out_dir = Path(out_dir)
    _check_target(out_dir)
    if isinstance(source, TaskSetSpec):
        domain_files = spec_domain_files(source, base)
        records, domain_file = generated_records(source, base), domain_files.__getitem__
    elif isinstance(source, Collection):
        records, domain_file = source.records(), source.domain_file
    else:
        raise TypeError(f"build_taskset needs a TaskSetSpec or a Collection, not {type(source).__name__}")
    rows = []
    with atomic_path(out_dir, directory=True) as tmp:
        # Files inside the staging folder need no atomic writes of their own: the folder's rename is the commit.
        seen = set()
        for rec in records:
            if rec.task_id in seen:
                raise IterdeployError(f"task id {rec.task_id!r} occurs twice")
            seen.add(rec.task_id)
            folder = Path(rec.domain) / rec.split
            (tmp / folder).mkdir(parents=True, exist_ok=True)
            problem_path = (folder / f"{rec.task_id}.pddl").as_posix()
            (tmp / problem_path).write_bytes(rec.problem)
            plan_path = None
            if rec.plan is not None:
                plan_path = (folder / f"{rec.task_id}.plan").as_posix()
                (tmp / plan_path).write_bytes(rec.plan)
            domain_rel = f"domains/{rec.domain}.pddl"
            if not (tmp / domain_rel).exists():
                (tmp / "domains").mkdir(exist_ok=True)
                shutil.copyfile(domain_file(rec.domain), tmp / domain_rel)
            rows.append({
                "task_id": rec.task_id, "domain": rec.domain, "split": rec.split, "size": rec.size,
                "params": params_json(rec.params), "seed": rec.seed, "problem_path": problem_path,
                "plan_path": plan_path, "domain_path": domain_rel, "reference_length": rec.reference_length,
                "difficulty": rec.difficulty, "content_hash": content_hash(rec.problem),
            })
        if not rows:
            raise ConfigError("the task set would be empty")
        manifest = _frame(rows)
        write_parquet(tmp / "manifest.parquet", manifest)
        if isinstance(source, TaskSetSpec):
            write_json(tmp / "spec.json", spec_json(source))
    return manifest


def spec_json(spec: TaskSetSpec) -> dict:
    """spec.json's content: the spec, each split without its unset (null) keys, so that a set of generated
    splits keeps the bytes (and the data.dvc hash) it had before splits could name collections."""
    data = to_dict(spec)
    data["splits"] = [{k: v for k, v in split.items() if v is not None} for split in data["splits"]]
    return data


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    for col in ("size",):
        df[col] = df[col].astype("int64")
    for col in ("seed", "reference_length"):
        df[col] = df[col].astype("Int64")
    for col in ("task_id", "domain", "split", "params", "problem_path", "plan_path", "domain_path",
                "difficulty", "content_hash"):
        df[col] = df[col].astype("string")
    return df


def load_manifest(taskset_dir: str | Path) -> pd.DataFrame:
    """The manifest of a task set; IterdeployError naming the file if it is missing, unreadable or
    incomplete, if a task id repeats, or if a path it lists is missing or leads out of the folder."""
    path = Path(taskset_dir) / "manifest.parquet"
    if not path.is_file():
        raise IterdeployError("no task set manifest here (build one with `iterdeploy tasks generate` or `import`)",
                              path)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise IterdeployError(f"cannot read manifest: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                              path) from None
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns and c not in ("difficulty", "content_hash")]
    if missing:
        raise IterdeployError(f"manifest lacks columns {', '.join(missing)}", path)
    _check_rows(df, Path(taskset_dir), path)
    return df


def _check_rows(df: pd.DataFrame, root: Path, manifest: Path) -> None:
    ids = df["task_id"]
    bad = [i for i, t in enumerate(ids) if not isinstance(t, str) or not TASK_ID.match(t)]
    if bad:
        raise IterdeployError(f"row {bad[0] + 1}: task_id {excerpt(str(ids.iloc[bad[0]]))} is not a task id", manifest)
    twice = ids[ids.duplicated(keep=False)]
    if len(twice):
        rows = [str(i + 1) for i in (ids == twice.iloc[0]).to_numpy().nonzero()[0]]
        raise IterdeployError(f"task_id {twice.iloc[0]!r} occurs more than once (rows {', '.join(rows)})", manifest)
    confined = _Confined(root, manifest)
    for column, what in _PATH_COLUMNS:
        for task_id, rel in zip(ids, df[column]):
            if column == "plan_path" and (rel is None or pd.isna(rel)):
                continue  # a task without a reference plan
            confined.file(rel, f"task {task_id!r}: {column}", what)


_PATH_COLUMNS = (("domain_path", "domain"), ("problem_path", "problem"), ("plan_path", "reference plan"))


class _Confined:
    """Files named relative to a task set folder, which they may not leave: no absolute path, no
    '..', no symbolic link that points outside (a manifest is data, and may come from anyone)."""

    def __init__(self, root: Path, manifest: Path):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.manifest = manifest
        self._real_dirs: dict[str, bool] = {}

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def path(self, rel, where: str) -> Path:
        """root/rel, checked lexically and for links out of the folder (the file need not exist)."""
        if not isinstance(rel, str) or not rel or "\0" in rel:
            raise IterdeployError(f"{where} is not a path: {excerpt(str(rel))}", self.manifest)
        parts = PurePosixPath(rel).parts
        if PurePosixPath(rel).is_absolute() or ".." in parts or rel.startswith("~"):
            raise IterdeployError(f"{where} {excerpt(rel)} leaves the task set folder (paths are relative to "
                                  "it, without '..')", self.manifest)
        full = self.root / rel
        parent = str(full.parent)
        if parent not in self._real_dirs:  # few distinct folders: resolved once each
            self._real_dirs[parent] = self._inside(os.path.realpath(parent))
        if not self._real_dirs[parent] or (full.is_symlink() and not self._inside(os.path.realpath(full))):
            raise IterdeployError(f"{where} {excerpt(rel)} leads out of the task set folder (a symbolic link)",
                                  self.manifest)
        return full

    def file(self, rel, where: str, what: str) -> Path:
        full = self.path(rel, where)
        if not full.is_file():
            state = "is not a regular file" if full.exists() else "not found"
            raise IterdeployError(f"{where}: {what} file {excerpt(rel)} {state}", self.manifest)
        return full


def taskset_file(taskset_dir: str | Path, rel, column: str) -> Path:
    """The file a manifest row names in `column`, confined to the task set folder (IterdeployError
    naming manifest.parquet otherwise); whether it exists is the reader's to say."""
    root = Path(taskset_dir)
    return _Confined(root, root / "manifest.parquet").path(rel, column)


def load_taskset_task(taskset_dir: str | Path, row) -> Task:
    """The compiled task of one manifest row (a pandas row, namedtuple or dict with domain_path/problem_path)."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
    return load_task(taskset_file(taskset_dir, get("domain_path"), "domain_path"),
                     taskset_file(taskset_dir, get("problem_path"), "problem_path"))
