"""Language models for planning: the embedded word-level model, any local Hugging Face causal LM,
batched sampling and supervised fine-tuning.

Names are imported lazily so that `import iterdeploy.model` (and iterdeploy.prompts) stays cheap
for code that never touches torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "EmbeddedModelConfig": "config", "SamplingConfig": "config", "TrainConfig": "config",
    "build_vocabulary": "tokenizer", "build_tokenizer": "tokenizer", "encode_prompt": "tokenizer",
    "embedded_llama_config": "embedded", "new_embedded_model": "embedded", "pretrain_embedded": "embedded",
    "load_model": "loading", "is_adapter": "loading",
    "sample": "sampling",
    "finetune": "training",
    "read_model_card": "card",
    "build_tiny_chat_model": "tiny",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'iterdeploy.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"iterdeploy.model.{_EXPORTS[name]}"), name)
