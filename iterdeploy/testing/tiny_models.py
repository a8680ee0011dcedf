"""Tiny random model folders built locally, stand-ins in tests and benchmarks (nothing is downloaded):

- `build_tiny_chat_model`: a byte-level BPE tokenizer (trained in milliseconds on PDDL text) with a
  ChatML chat template and Qwen-like special tokens (no bos, eos `<|im_end|>`), and a random
  LlamaForCausalLM of ~100k parameters: a stand-in for Qwen3/Llama.
- `build_tiny_embedded_base`: a random embedded model (word-level vocabulary, compact format) of a few
  thousand parameters: a stand-in for the shipped pre-trained base.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from iterdeploy.artifacts import atomic_path
from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model
from iterdeploy.model.tokenizer import build_tokenizer, save_tokenizer
from iterdeploy.tasks.domains import DOMAINS, domain_text

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EXTRA = ["<think>", "</think>"]


def _corpus() -> list[str]:
    texts = ["(define (problem p) (:domain d) (:objects a b - object) (:init (on a b)) (:goal (and (on b a))))",
             "<think>\nLet me think about the plan step by step.\n</think>\n\n(pickup b1)\n(stack b1 b2)\n"]
    return texts + [domain_text(d) for d in DOMAINS]


def build_tiny_tokenizer(vocab_size: int = 600, texts: list[str] | None = None):
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(texts or _corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        model_input_names=["input_ids", "attention_mask"],
                                        clean_up_tokenization_spaces=False)
    tokenizer.add_tokens(EXTRA)  # like Qwen3: <think> is one token but not special, so decoding keeps it
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_chat_model(out_dir: str | Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Write a random tiny chat model folder (safetensors + tokenizer with chat template) to `out_dir`."""
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=2 * hidden, max_position_embeddings=8192,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
    return Path(out_dir)


def build_tiny_embedded_base(out_dir: str | Path, domains=("blocksworld", "ferry", "spanner"), max_objects: int = 16,
                             seed: int = 0, hidden: int = 16, layers: int = 1) -> Path:
    """Write a random tiny embedded model folder (the compact format's word-level vocabulary) to `out_dir`."""
    cfg = EmbeddedModelConfig(hidden=hidden, layers=layers, heads=2, intermediate=2 * hidden, max_positions=1024,
                              domains=tuple(domains), max_objects=max_objects)
    tokenizer = build_tokenizer(list(domains), max_objects)
    model = new_embedded_model(cfg, tokenizer, seed)
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
    return Path(out_dir)
