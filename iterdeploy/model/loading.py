"""Loading any local causal LM folder, or a LoRA adapter folder on its base, for sampling or training.

Only local folders, only safetensors, never remote code: nothing here can reach a hub.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from iterdeploy.errors import ConfigError
from iterdeploy.model.runtime import Runtime

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
