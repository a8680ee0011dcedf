"""Supervised fine-tuning on (prompt, completion) pairs with the transformers Trainer.

`train_model` is the one training loop (used by `finetune` and by the embedded
model's pretraining): deterministic on CPU given a seed (single process, no data
workers, seeded init, data order, dropout and position offsets), no checkpoints,
no external loggers, and a per-step loss curve for the model card.
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from iterdeploy.artifacts import atomic_path
from iterdeploy.errors import ConfigError
from iterdeploy.model.card import dataset_hash, model_ref, write_model_card
from iterdeploy.model.config import TrainConfig
from iterdeploy.model.data import CompletionCollator, pad_id_of, tokenize_examples
from iterdeploy.model.loading import ADAPTER_CONFIG, adapter_base, is_adapter, load_base, load_tokenizer, pick_device
from iterdeploy.model.tokenizer import save_tokenizer


def _training_arguments(cfg: TrainConfig, scratch: str, use_bf16: bool, progress: bool):
    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments).parameters
    kw = dict(
        output_dir=scratch, per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1,
        weight_decay=cfg.weight_decay, lr_scheduler_type=cfg.scheduler, logging_steps=1, save_strategy="no",
        report_to=[], use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, seed=cfg.seed,
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


def _loss_log_callback(every_s: float = 30.0):
    """Without a progress bar (DVC, Dagster, files), one stderr line about every `every_s` seconds."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def __init__(self):
            self.start = self.last = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            now = time.perf_counter()
            if logs and "loss" in logs and (now - self.last >= every_s or state.global_step >= state.max_steps):
                self.last = now
                print(f"  train step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} "
                      f"({now - self.start:.0f} s)", file=sys.stderr, flush=True)

    return LossLog()


def train_model(model, tokenizer, examples: list[tuple[str, str]], cfg: TrainConfig,
                progress: bool | None = None) -> dict:
    """Train `model` in place on the examples; return the statistics the model card records."""
    from transformers import Trainer, set_seed
    from transformers.trainer_callback import PrinterCallback

    torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    rows, dropped = tokenize_examples(tokenizer, examples, cfg.max_length)
    collator = CompletionCollator(pad_id_of(tokenizer), cfg.position_offset, cfg.seed)
    use_bf16 = (cfg.bf16 is True or (cfg.bf16 == "auto" and torch.cuda.is_available()
                                     and torch.cuda.is_bf16_supported()))
    progress = sys.stderr.isatty() if progress is None else progress
    model.train()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="iterdeploy-train-") as scratch:  # Trainer wants a folder; nothing kept
        args = _training_arguments(cfg, scratch, use_bf16, progress)
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # without a progress bar it prints every log dict to stdout
        if not progress:
            trainer.add_callback(_loss_log_callback())
        result = trainer.train()
    wall = time.perf_counter() - start
    model.eval()
    curve = [{"step": e["step"], "loss": e["loss"], "lr": e.get("learning_rate"), "epoch": e.get("epoch")}
             for e in trainer.state.log_history if "loss" in e]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "dataset": {"examples": len(examples), "used": len(rows), "dropped_too_long": dropped,
                    "hash": dataset_hash(examples), "tokens": sum(len(r["input_ids"]) for r in rows),
                    "completion_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in rows)},
        "loss_curve": curve,
        "final_loss": curve[-1]["loss"] if curve else None,
        "steps": result.global_step,
        "wall_time_s": round(wall, 3),
        "train_tokens": collator.tokens,
        "train_tokens_per_s": round(collator.tokens / wall, 1) if wall > 0 else None,
        "padding_fraction": round(1 - collator.tokens / collator.padded_tokens, 4) if collator.padded_tokens else 0.0,
        "parameters": {"total": sum(p.numel() for p in model.parameters()), "trainable": trainable},
    }


def _lora_config(cfg: TrainConfig):
    from peft import LoraConfig

    targets = cfg.target_modules if isinstance(cfg.target_modules, str) else list(cfg.target_modules)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM", bias="none")


def initial_model(base_dir: Path, init_from: Path | None, cfg: TrainConfig):
    """(model to train, tokenizer, base folder a LoRA adapter will name).

    lora + no init: new adapter on base. lora + adapter: continue that adapter on base.
    lora + full folder: new adapter on that folder (it becomes the base). full + adapter: merged, then trained.
    full + full folder (or none): train those weights.
    """
    from peft import PeftModel, get_peft_model

    device = pick_device()
    dtype = torch.float32  # trainable weights stay float32; bf16 mixed precision comes from the Trainer
    start = init_from if init_from is not None else base_dir
    tokenizer = load_tokenizer(start if (start / "tokenizer_config.json").is_file() else base_dir)
    torch.manual_seed(cfg.seed)  # LoRA's A matrices are random
    if init_from is not None and is_adapter(init_from):
        base = load_base(base_dir, device, dtype)
        if cfg.method == "lora":
            return PeftModel.from_pretrained(base, str(init_from), is_trainable=True), tokenizer, base_dir
        return PeftModel.from_pretrained(base, str(init_from)).merge_and_unload(), tokenizer, None
    model = load_base(start, device, dtype)
    if cfg.method == "lora":
        return get_peft_model(model, _lora_config(cfg)), tokenizer, start
    return model, tokenizer, None


def finetune(base_dir: str | Path, examples: list[tuple[str, str]], cfg: TrainConfig, out_dir: str | Path,
             init_from: str | Path | None = None, progress: bool | None = None) -> Path:
    """Fine-tune on (prompt, completion) pairs; write a LoRA adapter or full weights folder, tokenizer and
    model_card.json to `out_dir` (atomically). Returns `out_dir`."""
    torch.set_num_threads(cfg.threads)
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    init_from = None if init_from is None else Path(init_from)
    if is_adapter(base_dir):
        raise ConfigError(f"base_dir must be a full model folder, not a LoRA adapter (give it as init_from): "
                          f"{base_dir}")
    for folder in (base_dir, init_from):
        if folder is not None and not folder.is_dir():
            raise ConfigError(f"model folder not found: {folder}")
    model, tokenizer, adapter_base_dir = initial_model(base_dir, init_from, cfg)
    stats = train_model(model, tokenizer, examples, cfg, progress)
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
            "train": cfg.to_dict(),
            **stats,
        })
    return out_dir


def _record_base(adapter_dir: Path, base: Path) -> None:
    """Write the base folder into adapter_config.json as given (not peft's guess from the loaded model),
    with target_modules sorted: peft keeps them as a set, whose order follows Python's per-process
    string hashing, and the same training must give a byte-identical adapter."""
    path = adapter_dir / ADAPTER_CONFIG
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = str(base)
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    adapter_base(adapter_dir)  # fail now, not at load time, if it does not resolve
