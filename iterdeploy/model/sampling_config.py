"""The sampling section, and the random stream of each sampled row.

Every (task, sample index) row draws from its own generator seeded by (seed, task_id, sample_index),
so a row's random stream never depends on which rows share its batch, on the batch size or on the backend.

Where the rows are computed (`executor`: this process, or Ray workers) is not part of what they are:
the Ray executor runs the local executor's own batches and writes the same bytes, so the execution
fields (`EXECUTION_FIELDS`) are not parameters the pipeline's stages depend on (switching executor
re-runs nothing).
"""

from __future__ import annotations

import dataclasses
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
    executor: Literal["local", "ray"] = option(
        "local", "local: this process decodes every batch; ray: the batches go to Ray workers, one model replica "
                 "each (same bytes; needs the ray extra)")
    ray_address: str | None = option(
        None, "Ray cluster to join (e.g. auto, or ray://HEAD:10001); null: ray.init() starts a local cluster here")
    ray_workers: int | None = option(
        None, "Ray workers (model replicas); null: as many as the cluster holds (CPUs / runtime.threads, or one "
              "per GPU)", ge=1, le=1 << 16)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


EXECUTION_FIELDS = ("executor", "ray_address", "ray_workers")
"""Fields that say where rows are computed, not what they are: not DVC parameters of a stage."""


def result_fields(cls: type = SamplingConfig) -> list[str]:
    """The fields of a sampling section (or a subclass) that determine its rows: every field but the execution ones."""
    return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in EXECUTION_FIELDS]


def row_seed(seed: int, task_id: str, sample_index: int) -> int:
    digest = hashlib.sha256(f"{seed}\0{task_id}\0{sample_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
