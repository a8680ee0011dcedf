"""What every stage works in: the project root, its checked parameters, the task set, the models.

The faces (the CLI that dvc.yaml runs, the Dagster resource) build a `Context` and pass it to the
stage functions. Runtime settings (threads, device, dtype) are params like any other: a face that
needs other ones (a Dagster resource on a GPU cluster) overrides them when it loads the params.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping

from iterdeploy.artifacts import read_json, tree_hash
from iterdeploy.model.loading import load_tokenizer
from iterdeploy.errors import IterdeployError
from iterdeploy.pipeline.layout import Layout
from iterdeploy.pipeline.params import PARAMS_FILE, LoopParams, load_params
from iterdeploy.prompts import get_format
from iterdeploy.tasks.reader import TaskSetReader

BASE_REFERENCE = "base.json"
"""In generation 0's checkpoint folder: {path, sha256} of the base model folder, which is not copied."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Context:
    root: Path
    params: LoopParams
    log: Callable[[str], None] = field(default=_stderr)
    progress: bool = False

    @cached_property
    def layout(self) -> Layout:
        return Layout.of(self.params)

    def path(self, rel: str) -> Path:
        return self.root / rel

    @cached_property
    def tasks(self) -> TaskSetReader:
        return TaskSetReader(self.path(str(self.layout.tasks)))

    def base_folder(self) -> Path:
        """The configured base model folder (params model.path, relative to the project root)."""
        path = Path(self.params.model.path).expanduser()
        return path if path.is_absolute() else self.root / path

    def checked_base(self) -> tuple[Path, str]:
        """The base model folder and its content hash; refused when it is missing or, with params model.sha256,
        when it hashes to anything else."""
        folder = self.base_folder()
        if not folder.is_dir():
            raise IterdeployError("model.path: the base model folder is missing", folder)
        digest = tree_hash(folder)
        expected = self.params.model.sha256
        if expected is not None and digest != expected:
            raise IterdeployError(f"model.sha256: the base model folder hashes to {digest}, the params expect "
                                  f"{expected}; restore the folder (git checkout) or update model.sha256", folder)
        return folder, digest

    def relative(self, path: Path) -> Path:
        """`path` relative to the project root when inside it: stages run there, and model cards and adapter
        configs that name folders relatively are the same bytes in every clone."""
        try:
            return path.resolve().relative_to(self.root)
        except ValueError:
            return path

    def _base_reference(self, gen: int) -> dict | None:
        ref = self.path(self.layout.checkpoint(gen)) / BASE_REFERENCE
        if not ref.is_file():
            return None
        recorded = read_json(ref, "base model reference")
        if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str) \
                or not isinstance(recorded.get("sha256"), str):
            raise IterdeployError("not a base model reference ({path, sha256})", ref)
        return recorded

    def model_dir(self, gen: int) -> Path:
        """The loadable model folder of generation `gen` (relative to the root when inside it). Generation 0's,
        and that of a generation that carried the base forward, is the base folder its reference names,
        after checking it still hashes as recorded (a changed or missing base is refused)."""
        ck = self.path(self.layout.checkpoint(gen))
        recorded = self._base_reference(gen)
        if recorded is not None:
            folder = Path(recorded["path"]).expanduser()
            folder = folder if folder.is_absolute() else self.root / folder
            verify_base(folder, recorded["sha256"])
            return self.relative(folder)
        if gen == 0 or not ck.is_dir():
            raise IterdeployError(f"the model of generation {gen} is missing (run its checkpoint stage first)", ck)
        return self.relative(ck)

    def model_hash(self, gen: int) -> str:
        """Content hash of generation `gen`'s model (the base folder's recorded hash when it refers to the base)."""
        recorded = self._base_reference(gen)
        return recorded["sha256"] if recorded is not None else tree_hash(self.model_dir(gen))

    @cached_property
    def prompt_format(self):
        """The configured prompt format, for the base model's tokenizer (every generation shares it)."""
        model = self.params.model
        return get_format(model.prompt_format, load_tokenizer(self.model_dir(0)), model.enable_thinking)


_verified: dict[tuple[str, str], tuple] = {}


def _signature(folder: Path) -> tuple:
    return tuple(sorted((str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns)
                        for f in folder.rglob("*") if f.is_file()))


def verify_base(folder: Path, sha256: str) -> None:
    """Refuse a base model folder that is missing or no longer hashes to `sha256` (checked once per process
    while its files' sizes and times stay the same)."""
    if not folder.is_dir():
        raise IterdeployError("the base model folder is missing", folder)
    key = (str(folder), sha256)
    signature = _signature(folder)
    if _verified.get(key) == signature:
        return
    actual = tree_hash(folder)
    if actual != sha256:
        raise IterdeployError(f"the base model folder changed: it hashes to {actual[:16]}..., generation 0 "
                              f"recorded {sha256[:16]}...; restore it (git checkout) or re-run generation 0", folder)
    _verified[key] = signature


def make_context(root: str | Path = ".", params_file: str = PARAMS_FILE,
                 overrides: Mapping[str, Any] | None = None, **kw: Any) -> Context:
    root = Path(root).resolve()
    return Context(root=root, params=load_params(root / params_file, overrides), **kw)
