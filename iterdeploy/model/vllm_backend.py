"""The vLLM sampling backend (GPU machines; optional install).

Same rows as the transformers backend: prompts are encoded with the same bos rule
as training, every (task, sample) is its own request with its own seed, and a LoRA
adapter folder is served on its base through a LoRARequest.
"""

from __future__ import annotations

import json
from pathlib import Path

from iterdeploy.errors import ConfigError
from iterdeploy.model.loading import ADAPTER_CONFIG, adapter_base, is_adapter
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.sampling_config import SamplingConfig, row_seed
from iterdeploy.model.tokenizer import encode_prompt, stop_token_ids


def _import_vllm():
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.lora.request import LoRARequest
    except ImportError as exc:
        raise ConfigError(f"sampling backend 'vllm' needs the vllm package on a CUDA machine ({exc}); "
                          "install it with `pip install vllm` or use backend: transformers") from None
    return LLM, SamplingParams, TokensPrompt, LoRARequest


def _check_servable(base: Path) -> None:
    """vLLM precomputes linear-scaled RoPE tables for max_positions x factor positions, so a NoPE made by
    linear scaling (factor 1e30) would exhaust memory; the embedded model uses rope_type llama3 instead."""
    config = json.loads((base / "config.json").read_text())
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type")) == "linear" and float(rope.get("factor") or 1.0) > 1e6:
        raise ConfigError("this model uses RoPE scaled into NoPE (linear factor), which vLLM cannot serve; "
                          "use backend: transformers (the model is tiny)", base / "config.json")


def check_device(runtime: Runtime) -> None:
    """vLLM runs on CUDA and takes no device index: runtime.device must say cuda (cuda:0 at most)."""
    device = runtime.device.strip()
    if not device.startswith("cuda"):
        raise ConfigError(f"runtime.device: {device!r}, but sampling backend 'vllm' runs on a CUDA device; set "
                          "runtime.device: cuda or use backend: transformers")
    if device not in ("cuda", "cuda:0"):
        raise ConfigError(f"runtime.device: {device!r}: vLLM takes no device index; choose the GPU with "
                          "CUDA_VISIBLE_DEVICES and set runtime.device: cuda")


class VllmEngine:
    """A vLLM engine on one model folder (an adapter is served on its base), for many `generate` calls."""

    def __init__(self, model_dir: str | Path, cfg: SamplingConfig, runtime: Runtime = Runtime()):
        from transformers import GenerationConfig

        model_dir = Path(model_dir)
        base = adapter_base(model_dir) if is_adapter(model_dir) else model_dir
        _check_servable(base)
        LLM, self.SamplingParams, self.TokensPrompt, LoRARequest = _import_vllm()
        self.lora = None
        if is_adapter(model_dir):
            rank = int(json.loads((model_dir / ADAPTER_CONFIG).read_text()).get("r", 16))
            self.lora = LoRARequest("adapter", 1, str(model_dir))
        tokenizer_dir = model_dir if (model_dir / "tokenizer_config.json").is_file() else base
        kwargs = dict(model=str(base), tokenizer=str(tokenizer_dir), seed=cfg.seed, dtype=runtime.dtype,
                      trust_remote_code=False, max_num_seqs=cfg.batch_size)
        if self.lora is not None:
            # vLLM accepts ranks 8, 16, 32, ...: round up.
            kwargs.update(enable_lora=True, max_lora_rank=max(8, 1 << (rank - 1).bit_length()), max_loras=1)
        self.llm = LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        try:
            gen_config = GenerationConfig.from_pretrained(str(base), local_files_only=True)
        except OSError:
            gen_config = None
        self.stops = stop_token_ids(self.tokenizer, gen_config)

    def generate(self, prompts: list[tuple[str, str]], cfg: SamplingConfig, progress: bool = False) -> list[dict]:
        """Rows of `prompts`, in prompt order then sample index; every row is its own request and seed."""
        requests, params, keys = [], [], []
        for task_id, prompt in prompts:
            ids = encode_prompt(self.tokenizer, prompt)
            for s in range(cfg.k):
                requests.append(self.TokensPrompt(prompt_token_ids=ids))
                params.append(self.SamplingParams(
                    n=1, temperature=cfg.temperature, top_p=cfg.top_p,
                    max_tokens=cfg.max_new_tokens, seed=row_seed(cfg.seed, task_id, s), stop_token_ids=self.stops,
                    skip_special_tokens=True,
                ))
                keys.append((task_id, s, len(ids)))
        outputs = self.llm.generate(requests, params, lora_request=self.lora, use_tqdm=progress)
        rows = []
        for (task_id, s, n_prompt), out in zip(keys, outputs):
            o = out.outputs[0]
            rows.append({"task_id": task_id, "sample_index": s, "completion": o.text, "prompt_tokens": n_prompt,
                         "completion_tokens": len(o.token_ids),
                         "finish_reason": "length" if o.finish_reason == "length" else "stop",
                         "entropy": float("nan")})  # vLLM returns sampled logprobs only, not full distributions
        return rows


def generate_vllm(model_dir: str | Path, prompts: list[tuple[str, str]], cfg: SamplingConfig,
                  runtime: Runtime = Runtime(), progress: bool = False) -> list[dict]:
    check_device(runtime)
    return VllmEngine(model_dir, cfg, runtime).generate(prompts, cfg, progress)
