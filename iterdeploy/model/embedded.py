"""The embedded default model: a small LlamaForCausalLM trained from scratch (generation 0).

It is a stock Llama, so AutoModelForCausalLM (and vLLM) load it with no custom
code. Its position encoding is the one choice that matters for iterative
deployment: with stock RoPE a prototype never wrote plans longer than its
training plans, so it could never improve on larger tasks. The alternatives are
expressed with Llama 3's frequency-dependent RoPE scaling (rope_type 'llama3'):
frequencies whose wavelength exceeds a threshold are divided by 1e30, so their
angles stay ~1e-27 rad (cos = 1, sin ~ 0 in float32) at any position.

- 'nope': every frequency is scaled away. Attention sees no positions at all (NoPE:
  order comes from the causal mask alone).
- 'p-rope': only short wavelengths (< rope_max_wavelength tokens) keep rotating
  (p-RoPE, Barbero et al. 2024): exact local order for reading atoms and actions, but no
  long-range position signal, and every rotation angle is met in training whatever the length.

(Linear scaling by 1e30 would give NoPE too, but vLLM sizes its RoPE cache by the
linear factor; the llama3 type does not.)
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from iterdeploy.artifacts import atomic_path
from iterdeploy.model.card import write_model_card
from iterdeploy.model.config import EmbeddedModelConfig, TrainConfig
from iterdeploy.model.tokenizer import END, build_tokenizer, save_tokenizer
from iterdeploy.model.training import train_model

NOPE_ROPE_FACTOR = 1e30
"""Scaling of the frequencies switched off (angles stay below float32 resolution)."""


def rope_parameters(cfg: EmbeddedModelConfig) -> dict:
    """The LlamaConfig rope_parameters of a position encoding choice."""
    theta = float(cfg.rope_theta)
    if cfg.position_encoding == "rope":
        return {"rope_type": "default", "rope_theta": theta}
    # Wavelengths below `keep` rotate as usual, above 2 * keep are scaled by 1e30, in between smoothly.
    # NoPE: keep = 1 token, below RoPE's shortest wavelength (2 pi), so every frequency is scaled.
    keep = 1.0 if cfg.position_encoding == "nope" else float(cfg.rope_max_wavelength)
    context = max(2, cfg.max_positions // 2)  # only the ratios below matter; must be < max_positions
    return {"rope_type": "llama3", "rope_theta": theta, "factor": NOPE_ROPE_FACTOR,
            "original_max_position_embeddings": context,
            "high_freq_factor": context / keep, "low_freq_factor": context / (2 * keep)}


def embedded_llama_config(cfg: EmbeddedModelConfig, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads, intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_positions, rope_parameters=rope_parameters(cfg),
        tie_word_embeddings=cfg.tie_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, attention_dropout=0.0,
    )


def new_embedded_model(cfg: EmbeddedModelConfig, tokenizer, seed: int = 0):
    """A randomly initialised model (seeded), whose generation stops at eos or at the compact format's 'end'."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(embedded_llama_config(cfg, tokenizer))
    stops = [tokenizer.eos_token_id]
    end_id = tokenizer.get_vocab().get(END)
    if end_id is not None:
        stops.append(end_id)
    gen = model.generation_config
    gen.eos_token_id, gen.bos_token_id, gen.pad_token_id = stops, tokenizer.bos_token_id, tokenizer.pad_token_id
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def pretrain_embedded(examples: list[tuple[str, str]], cfg: EmbeddedModelConfig, train: TrainConfig,
                      out_dir: str | Path, tokenizer=None, progress: bool | None = None) -> Path:
    """Generation 0: build the tokenizer (unless given), train a new model on (prompt, completion) pairs,
    write a save_pretrained folder (safetensors, tokenizer, model_card.json) to `out_dir` atomically.

    All weights are trained whatever `train.method` says: there is nothing for an adapter to sit on."""
    torch.set_num_threads(train.threads)
    out_dir = Path(out_dir)
    start = time.perf_counter()
    tokenizer = tokenizer if tokenizer is not None else build_tokenizer(list(cfg.domains), cfg.max_objects)
    model = new_embedded_model(cfg, tokenizer, train.seed)
    stats = train_model(model, tokenizer, examples, train, progress)
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
        write_model_card(tmp, {
            "kind": "embedded-pretrain",
            "base_model": None,
            "init_from": None,
            "embedded": cfg.to_dict(),
            "train": {**train.to_dict(), "method": "full"},
            "vocab_size": len(tokenizer),
            **stats,
            "wall_time_total_s": round(time.perf_counter() - start, 3),
        })
    return out_dir
