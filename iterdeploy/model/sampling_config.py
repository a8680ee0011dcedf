"""The sampling section, and the random stream of each sampled row.

Every (task, sample index) row draws from its own generator seeded by (seed, task_id, sample_index),
so a row's sample never depends on which rows share its batch, on the batch size or on the backend.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from iterdeploy.config import option


@dataclass(frozen=True)
class SamplingConfig:
    k: int = option(8, "samples per task (K)", ge=1, le=10_000)
    temperature: float = option(1.0, "softmax temperature (0: greedy, argmax)", ge=0, le=100)
    top_p: float = option(0.95, "nucleus sampling: keep the smallest set of tokens with this much probability mass",
                          gt=0, le=1)
    max_new_tokens: int = option(256, "completion length limit in tokens (finish_reason 'length')", ge=1, le=1 << 20)
    batch_size: int = option(64, "rows (task, sample) decoded together", ge=1, le=1 << 16)
    seed: int = option(0, "seed of every row's random stream (combined with the task id and sample index)",
                       ge=0, lt=2**63)
    backend: Literal["transformers", "vllm"] = option(
        "transformers", "transformers: the batched KV-cache decoder (CPU or GPU); vllm: vLLM engines (GPU, optional)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def row_seed(seed: int, task_id: str, sample_index: int) -> int:
    digest = hashlib.sha256(f"{seed}\0{task_id}\0{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
