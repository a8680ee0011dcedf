"""Typed configuration: frozen dataclasses whose fields carry a one-line doc, built strictly from YAML.

Every layer declares its own sections (the model layer its `SamplingConfig` and `TrainConfig`,
the task layer its `TaskSetSpec`, ...) with `option(...)` fields; the pipeline assembles them
into the tree that params.yaml is read into. There is one default per knob (the field's) and no
translation between families: a section object is what the layer that owns it takes.

Reading is strict, and every error is one line naming the file and the dotted key:

    params.yaml: curation.per_task: 'longest' is not one of shortest|first|random|all

An unknown key, a missing key (in a file read with `complete=True`), a duplicate key, a wrong
type, a non-finite number or a value out of range is an error. This module is a leaf: it
imports nothing from the rest of the package but its errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import yaml

from iterdeploy.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
"""Largest configuration file read (a params file is a few kilobytes)."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists accepted in a configuration file."""


def option(default: Any = dataclasses.MISSING, doc: str = "", *, factory: Callable | None = None,
           ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
           check: Callable[[Any], str | None] | None = None):
    """A dataclass field with a one-line doc and range checks; `check(value)` returns an error text or None."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def doc_of(cls: type, name: str) -> str:
    return next(f.metadata.get("doc", "") for f in dataclasses.fields(cls) if f.name == name)


# --------------------------------------------------------------------------- building


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return {float: "number", int: "integer", bool: "boolean", str: "string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str, complete: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, bool) or value not in choices:
            raise ConfigError(f"{where}: {_show(value)} is not one of {'|'.join(str(c) for c in choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            if len(args) < len(typing.get_args(tp)):
                return None
            raise ConfigError(f"{where}: must be {type_name(tp)}, not null")
        errors = []
        for a in args:
            try:
                return _convert(a, value, where, complete)
            except ConfigError as exc:
                errors.append(exc)
        if len(args) == 1:
            raise errors[0]
        raise ConfigError(f"{where}: {_show(value)} is not {type_name(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be a {type_name(tp)}, got {_show(value)}")
        item = typing.get_args(tp)[0]
        items = [_convert(item, v, f"{where}[{i}]", complete) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, complete)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: must be a number, got {_show(value)}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: must be a number, got {_show(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {_show(value)}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {where}")  # a bug in a section's declaration


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_range(meta: Mapping, value: Any, where: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok, text in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                              ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
            bound = meta.get(key)
            if bound is not None and not ok(value, bound):
                raise ConfigError(f"{where}: must be {text} {bound}, got {value!r}")
    check = meta.get("check")
    if check is not None and value is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{where}: {problem}")


def build(cls: type, data: Any, where: str = "", complete: bool = False) -> Any:
    """An instance of dataclass `cls` from a plain mapping, checked field by field; `complete`: every
    field must be given (a params file) but those whose default is null, else missing fields take their
    defaults (library use).
    A section's own cross-field rules run in its `__post_init__` and raise ConfigError."""
    if data is None and not complete:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'top level'}: must be a mapping, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{_join(where, str(key))}: unknown key; expected one of {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        sub = _join(where, name)
        if name not in data:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required or (complete and f.default is not None):  # optional (null) knobs may be left out
                raise ConfigError(f"{sub}: missing")
            continue
        value = _convert(hints[name], data[name], sub, complete)
        _check_range(f.metadata, value, sub)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        cause = exc.cause
        raise ConfigError(cause if not where or cause.startswith(where) else f"{where}.{cause}") from None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def to_dict(obj: Any) -> Any:
    """A section as plain data (tuples as lists): what params.yaml would say."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- files


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"duplicate key {key!r} (also on line {seen[key] + 1})", line=key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _depth(node: yaml.Node, limit: int) -> int:
    """Nesting depth of a composed YAML node, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        if d > limit:
            return d
        deepest = max(deepest, d)
        if isinstance(n, yaml.MappingNode):
            stack.extend((v, d + 1) for _, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, d + 1) for v in n.value)
    return deepest


def read_yaml(path: str | Path) -> Any:
    """The data of a YAML configuration file: UTF-8 text, no duplicate keys, not absurdly deep or large.
    Errors are ConfigError naming the file (and line)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError("not found" if not path.exists() else "not a regular file", path)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"larger than {MAX_FILE_BYTES} bytes; not a configuration file", path)
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); save it as UTF-8",
                          path) from None
    if "\0" in text:
        raise ConfigError("contains NUL characters; not a text file", path)
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        if node is not None and _depth(node, MAX_DEPTH) > MAX_DEPTH:
            raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", path)
        return yaml.load(text, Loader=_StrictLoader)
    except ConfigError as exc:
        raise ConfigError(exc.cause, path, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', None) or str(exc).splitlines()[0]}", path,
                          None if mark is None else mark.line + 1) from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", path) from None


def set_dotted(data: Any, key: str, value: Any) -> dict:
    """A copy of `data` with the dotted `key` (e.g. 'curation.per_task') set to `value`."""
    out = dict(data) if isinstance(data, dict) else {}
    head, _, rest = key.partition(".")
    out[head] = set_dotted(out.get(head), rest, value) if rest else value
    return out


def load(cls: type, path: str | Path, overrides: Mapping[str, Any] | None = None, complete: bool = True) -> Any:
    """Read a YAML file into `cls`, after applying dotted-key `overrides` (as `dvc exp run -S` sets them)."""
    data = read_yaml(path)
    for key, value in (overrides or {}).items():
        data = set_dotted(data, key, value)
    try:
        return build(cls, data, "", complete)
    except ConfigError as exc:
        raise ConfigError(exc.cause, path, exc.line) from None


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, type, doc) for every field, recursively: the reference of a configuration file."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = _join(prefix, f.name)
        tp = hints[f.name]
        rows.append((key, type_name(tp), f.metadata.get("doc", "")))
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, key))
    return rows


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser, cls: type, sections: list[str] | None = None,
                  prefix: str | None = None) -> None:
    """`--section.field VALUE` for every leaf field of the named sections of `cls` (all when None):
    the configuration is the command's signature. Values are YAML (`--sampling.k 16`,
    `--training.target_modules '[q_proj, v_proj]'`); `overrides(args)` collects the given ones.
    With `prefix`, `cls` is itself that section (`--tasks.seed` for a TaskSetSpec)."""
    if prefix is not None:
        group = parser.add_argument_group(prefix)
        for key, tname, text in describe(cls, prefix):
            if "." in key.removeprefix(prefix + ".") or tname == "mapping":
                continue
            group.add_argument(f"--{key}", dest=f"cfg:{key}", metavar=tname.upper().replace(" ", "_")[:24],
                               help=text, default=argparse.SUPPRESS)
        return
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or (sections is not None and f.name not in sections):
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            group = parser.add_argument_group(f"{f.name}: {f.metadata.get('doc', '')}")
            for key, tname, text in describe(tp, f.name):
                if tname != "mapping":
                    group.add_argument(f"--{key}", dest=f"cfg:{key}", metavar=tname.upper().replace(" ", "_")[:24],
                                       help=text, default=argparse.SUPPRESS)
        else:
            parser.add_argument(f"--{f.name}", dest=f"cfg:{f.name}", metavar=type_name(tp).upper()[:24],
                                help=f.metadata.get("doc", ""), default=argparse.SUPPRESS)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The `--section.field` values given on the command line, parsed as YAML scalars or lists."""
    out = {}
    for dest, text in vars(args).items():
        if dest.startswith("cfg:"):
            try:
                out[dest[4:]] = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ConfigError(f"--{dest[4:]}: not a YAML value: {_show(text)}") from None
    return out
