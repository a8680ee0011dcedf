"""Loading any local causal LM folder, or a LoRA adapter folder on its base, for sampling or training.

Only local folders, only safetensors (a folder with pickled weights is refused: torch.load can run
code), never remote code: nothing here can reach a hub. A folder that cannot be loaded is a one-line
ConfigError naming it and the cause, never a library traceback.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch

from iterdeploy.errors import ConfigError
from iterdeploy.model.runtime import Runtime

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


PICKLED = ("pytorch_model.bin", "adapter_model.bin", "model.pt", "pytorch_model.bin.index.json")
"""Weight files torch.load would unpickle: refused."""


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"not readable JSON ({str(exc).splitlines()[0][:100]})", path) from None
    if not isinstance(data, dict):
        raise ConfigError("not a JSON object", path)
    return data


def adapter_base(path: str | Path) -> Path:
    """The base model folder an adapter was trained on: as recorded, else relative to the adapter's folder
    (so a generations folder that moved as a whole still loads)."""
    path = Path(path)
    recorded = _json(path / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not recorded or not isinstance(recorded, str):
        raise ConfigError("adapter names no base model (base_model_name_or_path)", path / ADAPTER_CONFIG)
    for candidate in (Path(recorded), path / recorded, path.parent / recorded):
        if (candidate / "config.json").is_file():
            return candidate
    raise ConfigError(f"base model {recorded!r} of this adapter is not a local model folder", path / ADAPTER_CONFIG)


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise ConfigError(f"model folder not found: {path}")
    if not (path / "config.json").is_file() and not is_adapter(path):
        raise ConfigError(f"not a model folder (no config.json or {ADAPTER_CONFIG}): {path}")
    pickled = [name for name in PICKLED if (path / name).exists()]
    if pickled:
        raise ConfigError(f"pickled weights ({pickled[0]}) are refused, only safetensors load: convert the folder "
                          "with save_pretrained(safe_serialization=True)", path)
    weights = "adapter_model.safetensors" if is_adapter(path) else None
    if weights and not (path / weights).is_file():
        raise ConfigError(f"adapter folder without {weights}", path)


@contextmanager
def _loading(what: str, path: Path):
    """Turn whatever a library raises on a broken folder into one line naming the folder."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as exc:  # safetensors, json, tokenizers and torch each raise their own types
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load the {what}: {first}", path) from None


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise ConfigError("no tokenizer here (tokenizer.json or tokenizer_config.json)", path)
    with _loading("tokenizer", path):
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)


def load_base(path: str | Path, device: torch.device, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM

    path = Path(path)
    _check_folder(path)
    with _loading("model", path):
        return AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=dtype,
        ).to(device)


def load_adapter(base, path: str | Path, trainable: bool = False):
    """A LoRA adapter folder (safetensors only) on an already loaded base model."""
    from peft import PeftModel

    path = Path(path)
    _check_folder(path)
    with _loading("LoRA adapter", path):
        return PeftModel.from_pretrained(base, str(path), is_trainable=trainable)


def tokenizer_folder(path: str | Path) -> Path:
    """The folder whose tokenizer a model folder samples with: its own, or for an adapter without one, its base's."""
    path = Path(path)
    if is_adapter(path) and not (path / "tokenizer_config.json").is_file():
        return adapter_base(path)
    return path


def load_model(path: str | Path, runtime: Runtime = Runtime(), trainable: bool = False):
    """(model, tokenizer) from a local model folder or a LoRA adapter folder (loaded on its base with peft),
    on the runtime's device and dtype. The model is in eval mode unless `trainable` (then an adapter's
    weights require grad)."""
    runtime.apply()
    path = Path(path)
    _check_folder(path)
    dev = runtime.torch_device()
    dt = runtime.torch_dtype()
    if is_adapter(path):
        model = load_adapter(load_base(adapter_base(path), dev, dt), path, trainable)
    else:
        model = load_base(path, dev, dt)
    tokenizer = load_tokenizer(tokenizer_folder(path))
    if not trainable:
        model.eval()
    return model, tokenizer
