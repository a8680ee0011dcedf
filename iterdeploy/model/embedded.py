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

from dataclasses import dataclass
from typing import Literal

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from iterdeploy.config import option
from iterdeploy.errors import ConfigError
from iterdeploy.prompts.compact import END


def _domain_list(domains) -> str | None:
    if not domains or not all(isinstance(d, str) and d for d in domains):
        return "must be a non-empty list of domain names or domain.pddl paths"
    return None


@dataclass(frozen=True)
class EmbeddedModelConfig:
    """Architecture and vocabulary of the embedded model (a stock LlamaForCausalLM)."""

    hidden: int = option(128, "width of the residual stream (LlamaConfig.hidden_size)", ge=8, le=8192)
    layers: int = option(4, "transformer blocks", ge=1, le=128)
    heads: int = option(4, "attention heads per block (hidden must be divisible by heads)", ge=1, le=256)
    intermediate: int = option(512, "width of the SwiGLU feed-forward layer", ge=8, le=65536)
    max_positions: int = option(1024, "longest sequence (prompt + plan) the model is meant for, in tokens",
                                ge=16, le=1 << 20)
    position_encoding: Literal["nope", "p-rope", "rope"] = option(
        "p-rope", "nope: no positions (order from the causal mask alone); p-rope: only wavelengths below "
                  "rope_max_wavelength rotate (local order, no long-range positions); rope: stock RoPE")
    rope_theta: float = option(10000.0, "RoPE base wavelength", gt=0, le=1e12)
    rope_max_wavelength: float = option(32.0, "p-rope: frequencies with a wavelength below this many tokens "
                                              "keep rotating; above twice it, none", ge=1, le=1e9)
    tie_embeddings: bool = option(True, "share input and output embeddings (saves a vocab x hidden matrix)")
    domains: tuple[str, ...] = option(("blocksworld", "ferry", "spanner"), "domains the word-level vocabulary "
                                      "covers: packaged domain names or domain.pddl paths", check=_domain_list)
    max_objects: int = option(32, "object tokens (object1..objectN, one pool for every type), drawn at random per "
                                  "task: the largest task the model can be prompted with has N objects", ge=1, le=4096)

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ConfigError(f"hidden: {self.hidden} is not divisible by heads={self.heads}")


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


def embedded_llama_config(cfg: EmbeddedModelConfig, tokenizer) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads, intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_positions, rope_parameters=rope_parameters(cfg),
        tie_word_embeddings=cfg.tie_embeddings, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, attention_dropout=0.0,
    )


def new_embedded_model(cfg: EmbeddedModelConfig, tokenizer, seed: int = 0):
    """A randomly initialised model (seeded), whose generation stops at eos or at the compact format's 'end'."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(embedded_llama_config(cfg, tokenizer))
    stops = [tokenizer.eos_token_id]
    end_id = tokenizer.get_vocab().get(END)
    if end_id is not None:
        stops.append(end_id)
    gen = model.generation_config
    gen.eos_token_id, gen.bos_token_id, gen.pad_token_id = stops, tokenizer.bos_token_id, tokenizer.pad_token_id
    return model
