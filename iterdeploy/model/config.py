"""Typed configurations for the embedded model, sampling and fine-tuning.

Each is a plain dataclass with one-line field docs, checked in `__post_init__`
(ConfigError names the field), and constructible from a params.yaml mapping with
`from_dict`, which rejects unknown keys so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from iterdeploy.errors import ConfigError

POSITION_ENCODINGS = ("nope", "p-rope", "rope")
BACKENDS = ("transformers", "vllm")
METHODS = ("lora", "full")


def _check(cls_name: str, name: str, ok: bool, value: Any, want: str) -> None:
    if not ok:
        raise ConfigError(f"{cls_name}.{name} must be {want}, got {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _FromDict:
    @classmethod
    def from_dict(cls, d: dict | None, where: str | None = None):
        """Build from a mapping (e.g. a params.yaml section); unknown keys are an error."""
        where = where or cls.__name__
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        for key, value in d.items():  # yaml gives lists where the dataclass keeps tuples
            if isinstance(value, list):
                d[key] = tuple(value)
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class EmbeddedModelConfig(_FromDict):
    hidden: int = 128
    """Width of the residual stream (LlamaConfig.hidden_size)."""
    layers: int = 4
    """Number of transformer blocks."""
    heads: int = 4
    """Attention heads per block (hidden must be divisible by heads)."""
    intermediate: int = 512
    """Width of the SwiGLU feed-forward layer."""
    max_positions: int = 4096
    """Longest sequence (prompt + plan) the model is meant for, in tokens."""
    position_encoding: str = "nope"
    """'nope': every RoPE frequency scaled to ~0, attention sees no positions (lengths generalise);
    'p-rope': only frequencies with wavelength < rope_max_wavelength rotate (local order, no long-range
    positions); 'rope': stock RoPE (a prototype never wrote plans longer than its training plans).
    All three are a stock LlamaForCausalLM (rope_type llama3 / default), loadable without custom code."""
    rope_theta: float = 10000.0
    """RoPE base wavelength."""
    rope_max_wavelength: float = 32.0
    """'p-rope': frequencies with a wavelength below this many tokens keep rotating; above twice it, ~0."""
    tie_embeddings: bool = True
    """Share input and output embeddings (saves a vocab x hidden matrix)."""
    domains: tuple[str, ...] = ("blocksworld", "ferry", "miconic", "spanner")
    """Domains the word-level vocabulary covers: packaged domain names or domain.pddl paths."""
    max_objects: int = 32
    """Object tokens per type (type1..typeN): enough for the default task sizes (<= 30 of a type at size 15); more
    names each trained less often (64 solved 9% of blocksworld 3-12 where 32 solved 13%, same training)."""

    def __post_init__(self) -> None:
        n = type(self).__name__
        for name in ("hidden", "layers", "heads", "intermediate", "max_positions", "max_objects"):
            v = getattr(self, name)
            _check(n, name, _is_int(v) and v >= 1, v, "a positive integer")
        _check(n, "hidden", self.hidden % self.heads == 0, self.hidden, f"divisible by heads={self.heads}")
        _check(n, "position_encoding", self.position_encoding in POSITION_ENCODINGS, self.position_encoding,
               " or ".join(POSITION_ENCODINGS))
        _check(n, "rope_theta", _is_num(self.rope_theta) and self.rope_theta > 0, self.rope_theta, "positive")
        _check(n, "rope_max_wavelength", _is_num(self.rope_max_wavelength) and self.rope_max_wavelength >= 1,
               self.rope_max_wavelength, ">= 1")
        _check(n, "domains", isinstance(self.domains, tuple) and len(self.domains) > 0
               and all(isinstance(x, str) for x in self.domains), self.domains, "a non-empty list of domain names")


@dataclass(frozen=True)
class SamplingConfig(_FromDict):
    k: int = 1
    """Samples per task."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy."""
    top_p: float = 1.0
    """Nucleus sampling: keep the smallest set of tokens with this much probability mass."""
    max_new_tokens: int = 512
    """Generation stops here at the latest (finish_reason 'length')."""
    batch_size: int = 64
    """Rows (task, sample) decoded together."""
    seed: int = 0
    """Each (task_id, sample_index) gets its own random stream derived from this seed."""
    backend: str = "transformers"
    """'transformers' (our batched KV-cache decoder, CPU or GPU) or 'vllm' (GPU, optional install)."""
    threads: int = 1
    """torch CPU threads (more than the free cores slows everything down)."""
    greedy: bool = False
    """Argmax decoding (then k > 1 repeats the same sample)."""
    progress: bool = True
    """Show a tqdm bar with tokens/s on stderr."""
    dtype: str = "auto"
    """'auto' (float32 on CPU, bfloat16 on GPU), 'float32', 'bfloat16' or 'float16'."""

    def __post_init__(self) -> None:
        n = type(self).__name__
        for name in ("k", "max_new_tokens", "batch_size", "threads"):
            v = getattr(self, name)
            _check(n, name, _is_int(v) and v >= 1, v, "a positive integer")
        _check(n, "seed", _is_int(self.seed) and self.seed >= 0, self.seed, "a non-negative integer")
        _check(n, "temperature", _is_num(self.temperature) and self.temperature >= 0, self.temperature, ">= 0")
        _check(n, "top_p", _is_num(self.top_p) and 0 < self.top_p <= 1, self.top_p, "in (0, 1]")
        _check(n, "backend", self.backend in BACKENDS, self.backend, " or ".join(BACKENDS))
        _check(n, "dtype", self.dtype in ("auto", "float32", "bfloat16", "float16"), self.dtype,
               "auto, float32, bfloat16 or float16")

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0


@dataclass(frozen=True)
class TrainConfig(_FromDict):
    method: str = "lora"
    """'lora' (peft adapter on a frozen base) or 'full' (all weights; the usual choice for the embedded model)."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA input."""
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    """Linear layers that get adapters (Llama/Qwen names)."""
    lr: float = 2e-4
    """Peak learning rate (1e-3 on the embedded model's fine-tuning collapsed it in the prototype)."""
    epochs: float = 1.0
    """Passes over the data (ignored when max_steps is set)."""
    batch_size: int = 16
    """Examples per optimizer step (per device)."""
    grad_accum: int = 1
    """Batches accumulated per optimizer step."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (overrides epochs)."""
    warmup_ratio: float = 0.0
    """Fraction of steps with a linear learning-rate warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    scheduler: str = "linear"
    """Learning-rate schedule after warm-up (transformers name: linear, cosine, constant...)."""
    max_length: int = 4096
    """Examples with more tokens (prompt + completion) are dropped, not truncated (a cut plan is a wrong plan)."""
    position_offset: int = 0
    """Randomised positions for 'rope' models: each row's positions are a sorted random sample from
    [0, length + position_offset) (0: off; no effect on 'nope')."""
    group_by_length: bool = True
    """Batch examples of similar length together (less padding)."""
    seed: int = 0
    """Seeds initialisation, data order, dropout and position offsets."""
    threads: int = 1
    """torch CPU threads."""
    bf16: bool | str = "auto"
    """'auto' (bfloat16 mixed precision on a GPU that supports it, else float32), true or false."""

    def __post_init__(self) -> None:
        n = type(self).__name__
        _check(n, "method", self.method in METHODS, self.method, " or ".join(METHODS))
        for name in ("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_length", "threads"):
            v = getattr(self, name)
            _check(n, name, _is_int(v) and v >= 1, v, "a positive integer")
        for name in ("seed", "position_offset"):
            v = getattr(self, name)
            _check(n, name, _is_int(v) and v >= 0, v, "a non-negative integer")
        _check(n, "max_steps", self.max_steps is None or (_is_int(self.max_steps) and self.max_steps >= 1),
               self.max_steps, "a positive integer or null")
        _check(n, "lr", _is_num(self.lr) and self.lr > 0, self.lr, "positive")
        _check(n, "epochs", _is_num(self.epochs) and self.epochs > 0, self.epochs, "positive")
        for name in ("lora_dropout", "warmup_ratio"):
            v = getattr(self, name)
            _check(n, name, _is_num(v) and 0 <= v < 1, v, "in [0, 1)")
        _check(n, "weight_decay", _is_num(self.weight_decay) and self.weight_decay >= 0, self.weight_decay, ">= 0")
        _check(n, "target_modules", isinstance(self.target_modules, (tuple, str)) and len(self.target_modules) > 0,
               self.target_modules, "a non-empty list of module names (or 'all-linear')")
        _check(n, "bf16", self.bf16 == "auto" or isinstance(self.bf16, bool), self.bf16, "auto, true or false")
