"""K samples per task from a model folder, by the configured backend and executor: the entry point of sampling.

executor local decodes in this process; ray shards the same batches over Ray workers (ray_executor.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from iterdeploy.artifacts import tree_hash
from iterdeploy.model import decoding
from iterdeploy.model.loading import load_model
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.sampling_config import SamplingConfig

COLUMNS = ["task_id", "sample_index", "completion", "prompt_tokens", "completion_tokens", "finish_reason",
           "entropy", "model_hash"]


def sample(model_dir: str | Path, prompts: list[tuple[str, str]], cfg: SamplingConfig,
           runtime: Runtime = Runtime(), progress: bool = False) -> pd.DataFrame:
    """cfg.k samples for each (task_id, prompt); one row per sample, in input order (COLUMNS)."""
    model_hash = tree_hash(model_dir)
    if cfg.executor == "ray":
        from iterdeploy.model.ray_executor import generate_on_ray  # optional: the ray extra

        rows = generate_on_ray(model_dir, prompts, cfg, runtime, progress)
    elif cfg.backend == "vllm":
        from iterdeploy.model.vllm_backend import generate_vllm  # optional: needs vllm on a CUDA machine

        rows = generate_vllm(model_dir, prompts, cfg, runtime, progress)
    else:
        model, tokenizer = load_model(model_dir, runtime)
        rows = decoding.generate(model, tokenizer, prompts, cfg, progress)
    df = pd.DataFrame(rows, columns=COLUMNS[:-1])
    df["model_hash"] = model_hash
    return df.astype({"sample_index": "int64", "prompt_tokens": "int64", "completion_tokens": "int64",
                      "entropy": "float64"})
