"""Typed pipeline parameters: `params.yaml` into frozen dataclasses, checked on load.

Every knob of the loop lives in params.yaml; this module turns it into `Params`
(one dataclass per section, one line of documentation per field). An unknown
key, a missing key, a wrong type or a bad value is a `ConfigError` that names
the file and the dotted key, e.g.

    params.yaml: curation.per_task: 'longest' is not one of shortest|first|random|all

This module is a leaf: it imports nothing from the rest of the package. Sections
whose schema belongs to another layer (`tasks`, the task set spec; `model.embedded`,
the embedded model's architecture) are kept as plain mappings here and checked by
that layer through the `checkers` hook of `load_params` (see `iterdeploy.stages`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import yaml

from iterdeploy.errors import ConfigError

PARAMS_FILE = "params.yaml"


def _f(default: Any = dataclasses.MISSING, doc: str = "", *, factory: Callable | None = None, **checks: Any):
    """A dataclass field with a one-line doc and optional range checks (ge/gt/le/lt/min_len/nonempty)."""
    meta = {"doc": doc, **checks}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def doc(cls: type, name: str) -> str:
    """The one-line documentation of field `name` of config class `cls`."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}[name]


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class PathsConfig:
    tasks: str = _f("data/tasks", "task set folder, pinned by data.dvc (relative to the project root)")
    runs: str = _f("runs", "folder of the per-generation artifacts (runs/gen_NNN/...)")


@dataclass(frozen=True)
class ModelConfig:
    source: Literal["embedded", "local"] = _f("embedded", "generation 0: 'embedded' (bootstrap a tiny model) or 'local' (a model folder)")
    path: str | None = _f(None, "local model folder (source: local); referenced by path and hash, never tracked by DVC")
    prompt_format: str = _f("compact", "prompt/completion format name (iterdeploy.prompts.get_format)")
    embedded: dict = _f(factory=dict, doc="architecture of the embedded model (checked by iterdeploy.model)")


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimisation knobs shared by the bootstrap (generation 0) and every fine-tuning."""
    lr: float = _f(1e-3, "peak learning rate", gt=0)
    epochs: float = _f(2.0, "passes over the examples (ignored when max_steps > 0)", gt=0)
    max_steps: int = _f(0, "stop after this many optimizer steps (0: no limit, use epochs)", ge=0)
    batch_size: int = _f(16, "examples per optimizer step", ge=1)
    grad_accum: int = _f(1, "batches accumulated per optimizer step", ge=1)
    warmup_ratio: float = _f(0.0, "fraction of steps with linear learning-rate warm-up", ge=0, lt=1)
    weight_decay: float = _f(0.0, "AdamW weight decay", ge=0)
    scheduler: str = _f("linear", "learning-rate schedule after warm-up (linear, cosine, constant, ...)")
    max_length: int = _f(4096, "examples longer than this many tokens are dropped", ge=1)
    position_offset: int = _f(0, "random position-id shift per example in [0, n] (helps 'rope'; 0: off)", ge=0)
    seed: int = _f(0, "seed for initialisation and example order (combined with the generation)", ge=0)


@dataclass(frozen=True)
class BootstrapConfig(OptimizerConfig):
    split: str = _f("train", "task split whose reference plans teach the embedded model (generation 0)")
    renamings: int = _f(4, "object renamings per reference plan (more object tokens seen in training)", ge=1)
    lr: float = _f(3e-3, "peak learning rate", gt=0)
    epochs: float = _f(3.0, "passes over the bootstrap examples (ignored when max_steps > 0)", gt=0)


@dataclass(frozen=True)
class SamplingConfig:
    split: str = _f("deploy", "task split the model is deployed on (samples of every generation)")
    k: int = _f(4, "samples per task (K)", ge=1)
    temperature: float = _f(1.0, "softmax temperature", ge=0)
    top_p: float = _f(0.95, "nucleus sampling mass", gt=0, le=1)
    max_new_tokens: int = _f(256, "completion length limit in tokens", ge=1)
    batch_size: int = _f(16, "prompts decoded together", ge=1)
    seed: int = _f(0, "sampling seed (combined with the generation number)", ge=0)


@dataclass(frozen=True)
class CurationConfig:
    filter: Literal["valid", "none"] = _f("valid", "which samples may enter the dataset: valid plans only, or all")
    per_task: Literal["shortest", "first", "random", "all"] = _f("shortest", "plans kept per task: shortest, first found, a random one, or all")
    accumulate: bool = _f(True, "merge with the previous generation's curated dataset (true) or use this generation's only")
    dedupe: bool = _f(True, "drop repeated identical plans of a task (keeping the earliest)")
    seed: int = _f(0, "seed of per_task: random", ge=0)


@dataclass(frozen=True)
class TrainingConfig(OptimizerConfig):
    method: Literal["lora", "full"] = _f("lora", "fine-tuning method: LoRA adapters (peft) or all weights")
    init_from: Literal["base", "previous"] = _f("previous", "start generation g from the base model or from checkpoint g-1")
    lora_r: int = _f(8, "LoRA rank", ge=1)
    lora_alpha: int = _f(16, "LoRA scaling numerator (scale = alpha / r)", ge=1)
    lora_dropout: float = _f(0.0, "dropout on the LoRA path", ge=0, lt=1)
    target_modules: list[str] | None = _f(None, "module names that get adapters (null: the model layer's default)")


@dataclass(frozen=True)
class EvaluationConfig:
    split: str = _f("test", "held-out task split, never used for deployment")
    greedy: bool = _f(True, "decode one greedy plan per task (solved fraction 'greedy')")
    k: int = _f(4, "sampled plans per task for pass@k (0: none)", ge=0)
    temperature: float = _f(1.0, "temperature of the pass@k samples", ge=0)
    top_p: float = _f(0.95, "nucleus mass of the pass@k samples", gt=0, le=1)
    max_new_tokens: int = _f(256, "completion length limit in tokens", ge=1)
    batch_size: int = _f(16, "prompts decoded together", ge=1)
    seed: int = _f(1, "evaluation sampling seed", ge=0)


@dataclass(frozen=True)
class Generation:
    gen: int = _f(doc="generation number (1, 2, ...)", ge=1)
    prev: int = _f(doc="the generation whose model samples (always gen - 1)", ge=0)


@dataclass(frozen=True)
class Params:
    threads: int = _f(1, "torch threads per stage (a fixed count gives byte-identical artifacts run to run; 2 is 1.7x faster on an idle 2-core CPU)", ge=1)
    device: str = _f("cpu", "torch device for training and sampling")
    paths: PathsConfig = _f(factory=PathsConfig, doc="where the task set and the runs live")
    tasks: dict = _f(factory=dict, doc="task set spec: seed, splits, reference (checked by iterdeploy.tasks)")
    model: ModelConfig = _f(factory=ModelConfig, doc="generation-0 model and prompt format")
    bootstrap: BootstrapConfig = _f(factory=BootstrapConfig, doc="training of the embedded generation-0 model")
    sampling: SamplingConfig = _f(factory=SamplingConfig, doc="deployment sampling (K plans per task)")
    curation: CurationConfig = _f(factory=CurationConfig, doc="which valid plans become training data")
    training: TrainingConfig = _f(factory=TrainingConfig, doc="fine-tuning of every generation g >= 1")
    evaluation: EvaluationConfig = _f(factory=EvaluationConfig, doc="held-out evaluation of every generation")
    generations: list[Generation] = _f(factory=list, doc="generations to run as {gen, prev} pairs: gen 1..N, prev = gen - 1")

    @property
    def gens(self) -> list[int]:
        """Generation numbers 1..N."""
        return [g.gen for g in self.generations]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return {dict: "mapping", float: "number", int: "integer", bool: "boolean", str: "string"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices or isinstance(value, bool) != isinstance(choices[0], bool):
            raise ConfigError(f"{where}: {value!r} is not one of {'|'.join(str(c) for c in choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: must be {_type_name(tp)}, not null")
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except ConfigError:
                if len([x for x in args if x is not type(None)]) == 1:
                    raise
        raise ConfigError(f"{where}: {value!r} is not {_type_name(tp)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: must be a {_type_name(tp)}, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: must be a mapping, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {where}")  # a bug in this module


def _check_range(meta: Mapping, value: Any, where: str) -> None:
    if value is None or isinstance(value, (list, dict, str, bool)):
        return
    for key, op, text in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                          ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        if key in meta and not op(value, meta[key]):
            raise ConfigError(f"{where}: must be {text} {meta[key]}, got {value!r}")


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'top level'}: must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{_join(where, str(key))}: unknown key; expected one of {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        sub = _join(where, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{sub}: missing")
            continue
        value = _convert(hints[name], data[name], sub)
        _check_range(f.metadata, value, sub)
        kwargs[name] = value
    return cls(**kwargs)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _check_params(p: Params) -> None:
    for i, g in enumerate(p.generations):
        if g.gen != i + 1 or g.prev != g.gen - 1:
            raise ConfigError(
                f"generations[{i}]: expected {{gen: {i + 1}, prev: {i}}} (generations run 1..N in order), "
                f"got {{gen: {g.gen}, prev: {g.prev}}}")
    if p.model.source == "local" and not p.model.path:
        raise ConfigError("model.path: required when model.source is 'local'")
    if p.model.source == "embedded" and p.model.path:
        raise ConfigError("model.path: only used when model.source is 'local'")
    splits = {"bootstrap.split": p.bootstrap.split, "sampling.split": p.sampling.split,
              "evaluation.split": p.evaluation.split}
    if p.evaluation.split == p.sampling.split:
        raise ConfigError(f"evaluation.split: {p.evaluation.split!r} is the deployment split; "
                          "evaluation must use held-out tasks")
    if p.evaluation.split == p.bootstrap.split and p.model.source == "embedded":
        raise ConfigError(f"evaluation.split: {p.evaluation.split!r} is the bootstrap split; "
                          "evaluation must use held-out tasks")
    names = _split_names(p.tasks)
    if names is not None:
        for key, name in splits.items():
            if key == "bootstrap.split" and p.model.source != "embedded":
                continue
            if name not in names:
                raise ConfigError(f"{key}: {name!r} is not a split of the task set (tasks.splits has "
                                  f"{', '.join(sorted(names)) or 'none'})")
    if not p.evaluation.greedy and p.evaluation.k == 0:
        raise ConfigError("evaluation: greedy is false and k is 0; nothing would be evaluated")


def _split_names(tasks: dict) -> set[str] | None:
    splits = tasks.get("splits") if isinstance(tasks, dict) else None
    if not isinstance(splits, list):
        return None
    return {s.get("name") for s in splits if isinstance(s, dict)}


Checker = Callable[[Any], Any]


def params_from_dict(data: Any, checkers: Mapping[str, Checker] | None = None) -> Params:
    """Build and check `Params` from a plain mapping. `checkers` maps a dotted key to a callable
    that checks that raw sub-mapping and raises ConfigError (with a dotted key) when it is bad."""
    params = _build(Params, data, "")
    for key, check in (checkers or {}).items():  # each section's own rules first, then how they fit together
        value: Any = params
        for part in key.split("."):
            value = getattr(value, part)
        check(value)
    _check_params(params)
    return params


def load_params(path: str | Path = PARAMS_FILE, overrides: Mapping[str, Any] | None = None,
                checkers: Mapping[str, Checker] | None = None) -> Params:
    """Read params.yaml (plus dotted-key `overrides`, as `dvc exp run -S` would set them) into `Params`.
    Errors are ConfigError starting with the file name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read parameters: {exc.strerror}", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", path,
                          None if line is None else line + 1) from None
    data = {} if data is None else data
    for key, value in (overrides or {}).items():
        data = set_dotted(data, key, value)
    try:
        return params_from_dict(data, checkers)
    except ConfigError as exc:
        raise ConfigError(exc.cause, str(path)) from None


def set_dotted(data: dict, key: str, value: Any) -> dict:
    """A copy of `data` with the dotted `key` (e.g. 'curation.per_task') set to `value`."""
    out = dict(data)
    head, _, rest = key.partition(".")
    if rest:
        inner = out.get(head)
        out[head] = set_dotted(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        out[head] = value
    return out


def describe(cls: type = Params, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, type, doc) for every field, recursively: the reference of params.yaml."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = _join(prefix, f.name)
        tp = hints[f.name]
        rows.append((key, _type_name(tp), f.metadata.get("doc", "")))
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, key))
    return rows
