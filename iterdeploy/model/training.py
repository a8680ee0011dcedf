"""Supervised fine-tuning on (prompt, completion) pairs with the transformers Trainer.

`train_model` is the one training loop (used by `finetune` and by the embedded
model's pretraining): deterministic on CPU given a seed (single process, no data
workers, seeded init, data order, dropout and position offsets), no checkpoints,
no external loggers, and a per-step loss curve for the model card.

Under `accelerate launch` (or torchrun) every process runs the stage and the Trainer trains them as one
data-parallel job (each process takes its share of every step's examples, `batch_size` per device);
the first process writes the folder, the others wait for it, and the model card records the process
count (a run with N processes is not the bytes of a run with one: the gradient sums differ in order).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from iterdeploy.artifacts import atomic_path
from iterdeploy.config import option, to_dict
from iterdeploy.errors import ConfigError
from iterdeploy.model.card import dataset_hash, model_ref, write_model_card
from iterdeploy.model.data import CompletionCollator, pad_id_of, tokenize_examples
from iterdeploy.model.loading import ADAPTER_CONFIG, adapter_base, is_adapter, load_adapter, load_base, load_tokenizer
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.tokenizer import save_tokenizer

DEFAULT_TARGET_MODULES = ("down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj")
"""Every attention and MLP projection of Llama/Qwen-style models."""
TIMINGS = ("wall_time_s", "train_tokens_per_s")
"""Statistics that differ run to run: returned, never written into the model folder."""
SCHEDULERS = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                     "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"]


@dataclass(frozen=True)
class TrainConfig:
    """Supervised fine-tuning on (prompt, completion) pairs."""

    method: Literal["lora", "full"] = option("lora", "lora: a peft adapter on a frozen base; full: all weights "
                                                     "(the usual choice for the tiny embedded model)")
    lora_r: int = option(16, "LoRA rank", ge=1, le=4096)
    lora_alpha: int = option(32, "LoRA scaling numerator (scale = alpha / r)", ge=1, le=1 << 16)
    lora_dropout: float = option(0.0, "dropout on the LoRA path", ge=0, lt=1)
    target_modules: list[str] | None = option(None, "module names that get adapters (null: every attention and "
                                                    "MLP projection)")
    lr: float = option(2e-4, "peak learning rate", gt=0, le=10)
    epochs: float = option(1.0, "passes over the examples (ignored when max_steps > 0)", gt=0, le=100_000)
    max_steps: int = option(0, "stop after this many optimizer steps (0: use epochs)", ge=0, le=1 << 30)
    batch_size: int = option(16, "examples per optimizer step (per device)", ge=1, le=1 << 16)
    grad_accum: int = option(1, "batches accumulated per optimizer step", ge=1, le=1 << 16)
    warmup_ratio: float = option(0.0, "fraction of the steps with a linear learning-rate warm-up", ge=0, lt=1)
    weight_decay: float = option(0.0, "AdamW weight decay", ge=0, le=10)
    scheduler: SCHEDULERS = option("linear", "learning-rate schedule after warm-up (transformers' names)")
    max_length: int = option(4096, "examples longer than this many tokens (prompt + completion) are dropped, not "
                                   "truncated: a cut plan is a wrong plan", ge=1, le=1 << 20)
    position_offset: int = option(0, "randomised positions for 'rope' models: a sorted random sample of each row's "
                                     "positions from [0, length + offset) (0: off)", ge=0, le=1 << 20)
    group_by_length: bool = option(True, "batch examples of similar length together (less padding)")
    seed: int = option(0, "initialisation, data order, dropout and position offsets", ge=0, lt=2**32)

    @property
    def modules(self) -> list[str]:
        return sorted(self.target_modules) if self.target_modules else list(DEFAULT_TARGET_MODULES)


def _training_arguments(cfg: TrainConfig, scratch: str, use_bf16: bool, use_cpu: bool, progress: bool):
    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments).parameters
    kw = dict(
        output_dir=scratch, per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        weight_decay=cfg.weight_decay, lr_scheduler_type=cfg.scheduler, logging_steps=1, save_strategy="no",
        report_to=[], use_cpu=use_cpu, dataloader_num_workers=0, seed=cfg.seed,
        data_seed=cfg.seed, bf16=use_bf16, remove_unused_columns=False, disable_tqdm=not progress,
    )
    # transformers 5 renamed these two; keep working on 4.x too.
    if "train_sampling_strategy" in params:
        kw["train_sampling_strategy"] = "group_by_length" if cfg.group_by_length else "random"
        kw["warmup_steps"] = cfg.warmup_ratio
    else:
        kw["group_by_length"] = cfg.group_by_length
        kw["warmup_ratio"] = cfg.warmup_ratio
    return TrainingArguments(**kw)


def _progress_callback(show_bar: bool, every_s: float = 30.0):
    """One progress bar for the run with loss and tokens/s in its postfix (on a terminal), else a loss
    line on stderr about every `every_s` seconds. Replaces transformers' callbacks, which print a dict
    per logged step."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            self.start = self.last = time.perf_counter()
            self.bar = tqdm(total=state.max_steps, desc="training", unit="step", disable=not show_bar)

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            now = time.perf_counter()
            tokens = getattr(self, "collator_tokens", lambda: 0)()
            rate = tokens / max(now - self.start, 1e-9)
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", tok_s=f"{rate:.0f}", refresh=False)
            self.bar.update(state.global_step - self.bar.n)
            if not show_bar and (now - self.last >= every_s or state.global_step >= state.max_steps):
                self.last = now
                print(f"  train step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
                      f"({rate:.0f} tokens/s, {now - self.start:.0f} s)", file=sys.stderr, flush=True)

        def on_train_end(self, args, state, control, **kw):
            self.bar.close()

    return Progress()


def _world() -> tuple[int, int]:
    """(rank, processes) of a distributed run (accelerate launch, torchrun), (0, 1) in a plain process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _summed(values: list[int], device: torch.device) -> list[int]:
    """`values` summed over the processes of a distributed run (themselves in a plain one)."""
    import torch.distributed as dist

    if _world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.long, device=device)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


class TrainingDiverged(ConfigError):
    """A non-finite loss or weight: the training settings (usually the learning rate) diverge."""


def _check_finite(model, curve: list[dict]) -> None:
    bad = next((p for p in curve if not math.isfinite(p["loss"])), None)
    if bad is not None:
        raise TrainingDiverged(f"training diverged: loss {bad['loss']} at step {bad['step']}; lower the learning "
                               "rate (lr)")
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise TrainingDiverged(f"training diverged: non-finite weights in {name}; lower the learning rate (lr)")


def train_model(model, tokenizer, examples: list[tuple[str, str]], cfg: TrainConfig, runtime: Runtime = Runtime(),
                progress: bool | None = None) -> dict:
    """Train `model` in place on the examples; return the statistics the model card records."""
    from transformers import Trainer, set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    runtime.apply()
    set_seed(cfg.seed)
    rows, dropped = tokenize_examples(tokenizer, examples, cfg.max_length)
    collator = CompletionCollator(pad_id_of(tokenizer), cfg.position_offset, cfg.seed)
    use_bf16 = runtime.mixed_precision_bf16()
    device = runtime.torch_device()
    use_cpu = device.type == "cpu"
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # the Trainer trains on the current CUDA device
    progress = sys.stderr.isatty() if progress is None else progress
    model.train()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="iterdeploy-train-") as scratch:  # Trainer wants a folder; nothing kept
        args = _training_arguments(cfg, scratch, use_bf16, use_cpu, progress)
        if args.device.type != device.type:
            raise ConfigError(f"runtime.device: {runtime.device!r}, but the Trainer would train on {args.device}")
        if not use_cpu:
            args._n_gpu = 1  # the configured device only: no DataParallel over every visible GPU
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        callback = _progress_callback(progress)
        callback.collator_tokens = lambda: collator.tokens
        trainer.add_callback(callback)
        result = trainer.train()
    wall = time.perf_counter() - start
    model.eval()
    curve = [{"step": e["step"], "loss": e["loss"], "lr": e.get("learning_rate"), "epoch": e.get("epoch")}
             for e in trainer.state.log_history if "loss" in e]
    _check_finite(model, curve)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    tokens, padded = _summed([collator.tokens, collator.padded_tokens], trainer.args.device)
    return {
        "dataset": {"examples": len(examples), "used": len(rows), "dropped_too_long": dropped,
                    "hash": dataset_hash(examples), "tokens": sum(len(r["input_ids"]) for r in rows),
                    "completion_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in rows)},
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else None,
        "steps": result.global_step,
        "wall_time_s": round(wall, 3),
        "train_tokens": tokens,
        "train_tokens_per_s": round(tokens / wall, 1) if wall > 0 else None,
        "padding_fraction": round(1 - tokens / padded, 4) if padded else 0.0,
        "parameters": {"total": sum(p.numel() for p in model.parameters()), "trainable": trainable},
    }


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.modules, task_type="CAUSAL_LM", bias="none")


def initial_model(base_dir: Path, init_from: Path | None, cfg: TrainConfig, device: torch.device):
    """(model to train, tokenizer, base folder a LoRA adapter will name).

    lora + no init: new adapter on base. lora + adapter: continue that adapter on base.
    lora + full folder: new adapter on that folder (it becomes the base). full + adapter: merged, then trained.
    full + full folder (or none): train those weights.
    """
    from peft import get_peft_model

    dtype = torch.float32  # trainable weights stay float32; bf16 mixed precision comes from the Trainer
    start = init_from if init_from is not None else base_dir
    tokenizer = load_tokenizer(start if (start / "tokenizer_config.json").is_file() else base_dir)
    torch.manual_seed(cfg.seed)  # LoRA's A matrices are random
    if init_from is not None and is_adapter(init_from):
        base = load_base(base_dir, device, dtype)
        if cfg.method == "lora":
            return load_adapter(base, init_from, trainable=True), tokenizer, base_dir
        return load_adapter(base, init_from).merge_and_unload(), tokenizer, None
    model = load_base(start, device, dtype)
    if cfg.method == "lora":
        return get_peft_model(model, _lora_config(cfg)), tokenizer, start
    return model, tokenizer, None


def finetune(base_dir: str | Path, examples: list[tuple[str, str]], cfg: TrainConfig, out_dir: str | Path,
             runtime: Runtime = Runtime(), init_from: str | Path | None = None, progress: bool | None = None) -> dict:
    """Fine-tune on (prompt, completion) pairs; write a LoRA adapter or full weights folder, tokenizer and
    model_card.json to `out_dir` (atomically). Returns the training statistics; the card keeps all but
    the timings, so the same training gives a byte-identical folder."""
    runtime.apply()
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    init_from = None if init_from is None else Path(init_from)
    if is_adapter(base_dir):
        raise ConfigError(f"base_dir must be a full model folder, not a LoRA adapter (give it as init_from): "
                          f"{base_dir}")
    for folder in (base_dir, init_from):
        if folder is not None and not folder.is_dir():
            raise ConfigError(f"model folder not found: {folder}")
    model, tokenizer, adapter_base_dir = initial_model(base_dir, init_from, cfg, runtime.torch_device())
    stats = train_model(model, tokenizer, examples, cfg, runtime, progress)
    rank, processes = _world()
    if rank > 0:  # data-parallel run: every process holds the same weights; the first one writes them
        import torch.distributed as dist

        dist.barrier()
        return stats
    with atomic_path(out_dir, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
        if cfg.method == "lora":
            _record_base(tmp, adapter_base_dir)
        write_model_card(tmp, {
            "kind": f"finetune-{cfg.method}",
            "base_model": model_ref(base_dir),
            "adapter_base": None if adapter_base_dir is None else model_ref(adapter_base_dir),
            "init_from": model_ref(init_from),
            "train": to_dict(cfg),
            **({"processes": processes} if processes > 1 else {}),
            **{k: v for k, v in stats.items() if k not in TIMINGS},
        })
    if processes > 1:
        import torch.distributed as dist

        dist.barrier()  # the others may read the folder now (the stage hashes it)
    return stats


def _record_base(adapter_dir: Path, base: Path) -> None:
    """Write the base folder into adapter_config.json relative to the adapter folder (not peft's guess from
    the loaded model), so a tree of models that moves as a whole still loads, and the same training in
    another clone gives the same bytes; with target_modules sorted: peft keeps them as a set, whose
    order follows Python's per-process string hashing."""
    path = adapter_dir / ADAPTER_CONFIG
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = os.path.relpath(base.resolve(), adapter_dir.resolve())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    adapter_base(adapter_dir)  # fail now, not at load time, if it does not resolve
