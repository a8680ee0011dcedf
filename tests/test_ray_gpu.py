"""Ray workers on GPUs (marked `gpu`; skipped without a CUDA device): transformers on each worker's own GPU
gives the local executor's rows; with vllm installed, vLLM engines on the workers give rows in the local
backend's order and shape (whether vLLM's tokens depend on its own batching is vLLM's matter)."""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import torch  # noqa: E402

from iterdeploy.model.loading import load_tokenizer  # noqa: E402
from iterdeploy.model.runtime import Runtime  # noqa: E402
from iterdeploy.model.sampling import sample  # noqa: E402
from iterdeploy.model.sampling_config import SamplingConfig  # noqa: E402
from iterdeploy.testing.tiny_models import build_tiny_chat_model  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def gpu_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra")
    ray.init(num_cpus=2, num_gpus=torch.cuda.device_count(), object_store_memory=200 << 20, include_dashboard=False,
             log_to_driver=False)
    try:
        yield torch.cuda.device_count()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    folder = build_tiny_chat_model(tmp_path_factory.mktemp("chat") / "model")
    tok = load_tokenizer(folder)
    prompts = [(f"c{i}", tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                 add_generation_prompt=True))
               for i, text in enumerate(["(pickup b1)", "(define (problem p) (:domain blocksworld))", "hi", "plan"])]
    return folder, prompts


def test_transformers_on_gpu_workers_writes_the_local_rows(chat, gpu_cluster):
    folder, prompts = chat
    cfg = SamplingConfig(k=4, temperature=1.0, top_p=0.95, max_new_tokens=32, batch_size=6, seed=3)
    runtime = Runtime(threads=1, device="cuda")
    local = sample(folder, prompts, cfg, runtime)
    on_ray = sample(folder, prompts, dataclasses.replace(cfg, executor="ray", ray_workers=gpu_cluster), runtime)
    assert on_ray.equals(local)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm")
def test_vllm_engines_on_gpu_workers(chat, gpu_cluster):
    folder, prompts = chat
    cfg = SamplingConfig(k=4, temperature=1.0, top_p=0.95, max_new_tokens=32, batch_size=16, seed=3, backend="vllm")
    runtime = Runtime(threads=1, device="cuda")
    local = sample(folder, prompts, cfg, runtime)
    on_ray = sample(folder, prompts, dataclasses.replace(cfg, executor="ray", ray_workers=gpu_cluster), runtime)
    key = ["task_id", "sample_index", "prompt_tokens", "model_hash"]
    assert on_ray[key].equals(local[key])
    assert on_ray["finish_reason"].isin(["stop", "length"]).all()
