"""A supervised warm start of a pre-trained base: fine-tuned (LoRA) on reference plans, merged into a full
model folder, so that the loop's generation 0 is the warmed model and every later generation's LoRA starts
from it (training.init_from: base). The embedded base gets the same kind of start from its pre-training."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from iterdeploy.artifacts import atomic_path
from iterdeploy.config import to_dict
from iterdeploy.model.card import model_ref, write_model_card
from iterdeploy.model.loading import load_model
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.tokenizer import save_tokenizer
from iterdeploy.model.training import TIMINGS, TrainConfig, finetune


def warm_start(base_dir: str | Path, examples: list[tuple[str, str]], cfg: TrainConfig, out_dir: str | Path,
               runtime: Runtime = Runtime(), progress: bool | None = None, source: dict | None = None) -> dict:
    """Fine-tune `base_dir` on `examples` (a LoRA adapter when cfg.method is lora, merged into the weights
    afterwards) and write a full model folder to `out_dir` with model_card.json (base, training, data,
    `source`). Returns the training statistics."""
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="iterdeploy-warm-", dir=out_dir.parent if out_dir.parent.is_dir()
                                     else None) as scratch:
        trained = Path(scratch) / "trained"
        stats = finetune(base_dir, examples, cfg, trained, runtime, progress=progress)
        adapter = json.loads((trained / "adapter_config.json").read_text()) if cfg.method == "lora" else None
        model, tokenizer = load_model(trained, runtime)
        if cfg.method == "lora":
            model = model.merge_and_unload()
        with atomic_path(out_dir, directory=True) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            save_tokenizer(tokenizer, tmp)
            write_model_card(tmp, {
                "kind": f"warm-start-{cfg.method}" + ("-merged" if cfg.method == "lora" else ""),
                "base_model": model_ref(base_dir), "train": to_dict(cfg),
                "lora": None if adapter is None else {k: adapter.get(k) for k in ("r", "lora_alpha", "target_modules")},
                "source": source or {},
                **{k: v for k, v in stats.items() if k not in TIMINGS},
            })
    return stats
