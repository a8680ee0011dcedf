"""Supervised examples as token ids: small pure functions, no trainer in sight.

The loss covers the completion only: prompt tokens and padding get label -100,
the completion's tokens and the closing eos are learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from iterdeploy.errors import ConfigError
from iterdeploy.model.tokenizer import encode_prompt

IGNORE = -100


def tokenize_example(tokenizer, prompt: str, completion: str) -> dict[str, list[int]]:
    """{'input_ids', 'labels'}: prompt and completion tokenized apart (as sampling sees them), eos appended."""
    if tokenizer.eos_token_id is None:
        raise ConfigError("the tokenizer has no eos token: a completion could never end")
    prompt_ids = encode_prompt(tokenizer, prompt)
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": prompt_ids + completion_ids, "labels": [IGNORE] * len(prompt_ids) + completion_ids}


def tokenize_examples(tokenizer, examples: list[tuple[str, str]], max_length: int) -> tuple[list[dict], int]:
    """Tokenized examples no longer than `max_length`, and how many longer ones were dropped.

    Dropped, not truncated: a truncated completion teaches the model to stop mid-plan."""
    rows, dropped = [], 0
    for prompt, completion in examples:
        row = tokenize_example(tokenizer, prompt, completion)
        if len(row["input_ids"]) > max_length:
            dropped += 1
        else:
            rows.append(row)
    if not rows:
        raise ConfigError(f"all {len(examples)} training examples are longer than max_length={max_length} tokens")
    return rows, dropped


def pad_id_of(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


@dataclass
class CompletionCollator:
    """Right-pads a batch; labels -100 on padding.

    With `position_offset` > 0, each row gets randomised positions (Ruoss et al. 2023): a sorted random
    sample of its length from [0, length + position_offset). A uniform shift alone would be useless, since
    RoPE sees only relative positions; random gaps show the model distances beyond its training lengths."""

    pad_id: int
    position_offset: int = 0
    seed: int = 0
    tokens: int = 0
    """Real (non-pad) tokens collated so far, for tokens/s."""
    padded_tokens: int = 0
    """All tokens collated so far, padding included."""
    _generator: torch.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        self.tokens += int(mask.sum())
        self.padded_tokens += ids.numel()
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if "position_ids" in rows[0]:  # rows that bring their own positions (pre-training with gaps)
            positions = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                n = len(r["position_ids"])
                positions[i, :n] = torch.tensor(r["position_ids"])
                positions[i, n:] = positions[i, n - 1] + 1 + torch.arange(width - n)
            batch["position_ids"] = positions
        elif self.position_offset:
            positions = torch.zeros((len(rows), width), dtype=torch.long)
            for i in range(len(rows)):
                span = width + self.position_offset
                positions[i] = torch.randperm(span, generator=self._generator)[:width].sort().values
            batch["position_ids"] = positions
        return batch
