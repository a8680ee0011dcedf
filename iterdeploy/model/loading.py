"""Loading any local causal LM folder, or a LoRA adapter folder on its base, for sampling or training.

Only local folders, only safetensors, never remote code: nothing here can reach a hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from iterdeploy.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base(path: str | Path) -> Path:
    """The base model folder an adapter was trained on: as recorded, else relative to the adapter's folder
    (so a generations folder that moved as a whole still loads)."""
    path = Path(path)
    recorded = json.loads((path / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not recorded:
        raise ConfigError("adapter names no base model (base_model_name_or_path)", path / ADAPTER_CONFIG)
    for candidate in (Path(recorded), path / recorded, path.parent / recorded):
        if (candidate / "config.json").is_file():
            return candidate
    raise ConfigError(f"base model {recorded!r} of this adapter is not a local model folder", path / ADAPTER_CONFIG)


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise ConfigError(f"model folder not found: {path}")
    if not (path / "config.json").is_file() and not is_adapter(path):
        raise ConfigError(f"not a model folder (no config.json or {ADAPTER_CONFIG}): {path}")


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)


def load_base(path: str | Path, device: torch.device, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        str(path), local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=dtype,
    ).to(device)


def load_model(path: str | Path, threads: int = 1, device: str | None = None, dtype: str = "auto",
               trainable: bool = False):
    """(model, tokenizer) from a local model folder or a LoRA adapter folder (loaded on its base with peft).

    The model is in eval mode unless `trainable` (then an adapter's weights require grad)."""
    torch.set_num_threads(threads)
    path = Path(path)
    _check_folder(path)
    dev = pick_device(device)
    dt = pick_dtype(dtype, dev)
    if is_adapter(path):
        from peft import PeftModel

        base_dir = adapter_base(path)
        model = PeftModel.from_pretrained(load_base(base_dir, dev, dt), str(path), is_trainable=trainable)
        has_tokenizer = (path / "tokenizer_config.json").is_file()
        tokenizer = load_tokenizer(path if has_tokenizer else base_dir)
    else:
        model = load_base(path, dev, dt)
        tokenizer = load_tokenizer(path)
    if not trainable:
        model.eval()
    return model, tokenizer
