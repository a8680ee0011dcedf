"""Pre-training of the embedded base: its own configuration (pretrain/params.yaml) and DVC pipeline
(pretrain/dvc.yaml), so the loop's `dvc repro` never re-runs it. Its result, a model folder, ships with
the repository and is generation 0 of the default loop.

The base learns from a stream of fresh generated tasks (`iterdeploy.model.stream`), never a task of
the loop's deployment or test splits (excluded by content hash; the hashes are written into the
model folder so the loop can say which of its tasks were guaranteed unseen). After training, its
transfer curve (greedy and pass@k per size, up to the pre-training maximum + `transfer.extra_sizes`)
goes into the model card, beside the data spec, loss curve, tokens, wall time and commit.
"""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from iterdeploy.artifacts import atomic_path, write_text
from iterdeploy.config import load, option, to_dict
from iterdeploy.errors import ConfigError
from iterdeploy.model.card import write_model_card
from iterdeploy.model.embedded import EmbeddedModelConfig, new_embedded_model
from iterdeploy.model.pretrain_loop import LoopConfig, pretrain_loop
from iterdeploy.model.runtime import Runtime
from iterdeploy.model.stream import DomainRange, TaskStream
from iterdeploy.model.tokenizer import build_tokenizer, save_tokenizer
from iterdeploy.model.transfer import transfer_curve, transfer_tasks
from iterdeploy.planning.pddl import parse_domain, parse_problem
from iterdeploy.prompts.compact import CompactFormat
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import get_generator
from iterdeploy.tasks.taskset import load_manifest

EXCLUDED = "pretraining_excluded.txt"
"""In the model folder: content hashes of the tasks the stream never drew (one per line, sorted)."""


@dataclass(frozen=True)
class StreamConfig:
    seed: int = option(0, "seed of the stream: example i depends on (seed, i) only", ge=0, lt=2**63)
    domains: tuple[DomainRange, ...] = option(
        (DomainRange("blocksworld", 2, 5), DomainRange("ferry", 1, 4), DomainRange("spanner", 1, 3)),
        "domains and the size ranges their tasks are drawn at")
    exclude_from: str | None = option("data/tasks", "task set whose `exclude_splits` tasks are never drawn "
                                                    "(relative to the project root; null: none)")
    exclude_splits: tuple[str, ...] = option(("deploy", "test"), "splits of that task set to exclude")


@dataclass(frozen=True)
class TransferConfig:
    extra_sizes: int = option(6, "measure sizes up to each domain's pre-training maximum + this (sizes whose tasks "
                                 "have more objects than the model has names are left out)", ge=0, le=100)
    per_size: int = option(20, "fresh tasks per (domain, size)", ge=1, le=10_000)
    k: int = option(8, "samples per task for pass@k", ge=0, le=1000)
    temperature: float = option(1.0, "temperature of the pass@k samples", gt=0, le=100)
    max_new_tokens: int = option(512, "completion length limit in tokens", ge=1, le=1 << 16)
    batch_size: int = option(64, "rows decoded together", ge=1, le=1 << 16)
    seed: int = option(7, "seed of the measured tasks (their own namespace, apart from the stream)", ge=0)


@dataclass(frozen=True)
class PretrainParams:
    out: str = option("models/embedded-base", "model folder to write (relative to the project root)")
    runtime: Runtime = option(factory=Runtime, doc="threads and device of the run")
    model: EmbeddedModelConfig = option(factory=EmbeddedModelConfig, doc="architecture and vocabulary")
    stream: StreamConfig = option(factory=StreamConfig, doc="what the base is trained on")
    optimizer: LoopConfig = option(factory=LoopConfig, doc="the training loop")
    transfer: TransferConfig = option(factory=TransferConfig, doc="the transfer curve written into the model card")

    def __post_init__(self) -> None:
        missing = sorted({d.domain for d in self.stream.domains} - set(self.model.domains))
        if missing:
            raise ConfigError(f"model.domains: the vocabulary does not cover stream domain(s) {', '.join(missing)}")


def load_pretrain_params(path: str | Path, overrides=None) -> PretrainParams:
    return load(PretrainParams, path, overrides, complete=True)


def excluded_hashes(root: Path, stream: StreamConfig) -> list[str]:
    """Content hashes of the tasks of `exclude_splits` in `exclude_from` (sorted)."""
    if stream.exclude_from is None:
        return []
    manifest = load_manifest(root / stream.exclude_from)
    rows = manifest[manifest["split"].isin(list(stream.exclude_splits))]
    return sorted(set(rows["content_hash"].astype(str)))


def _commit(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def check_name_pool(params: PretrainParams) -> None:
    """The stream's largest tasks have names in the model's pool: refused before training, not an hour into it."""
    limit = params.model.max_objects
    for d in params.stream.domains:
        gen = get_generator(d.domain)
        domain = parse_domain(domain_text(d.domain))
        problem = gen.generate(gen.from_size(d.max_size), random.Random(0), "size-check").problem
        n = len(parse_problem(problem, domain).objects)
        if n > limit:
            raise ConfigError(f"stream.domains: {d.domain} size {d.max_size} has {n} objects; the model has names "
                              f"for {limit} (model.max_objects)")


def measurable(transfer_set, max_objects: int) -> tuple[list, list[str]]:
    """The transfer tasks a model with `max_objects` names can be prompted with, and 'domain size' of the
    sizes left out (their tasks have more objects than names)."""
    kept = [t for t in transfer_set if len(t.task.problem.objects) <= max_objects]
    dropped = sorted({(t.domain, t.size) for t in transfer_set if len(t.task.problem.objects) > max_objects})
    return kept, [f"{d} {s}" for d, s in dropped]


def pretrain(root: str | Path, params: PretrainParams, log: Callable[[str], None] = print) -> dict:
    """Train the embedded base, measure its transfer curve, write the model folder atomically; the card."""
    root = Path(root)
    params.runtime.apply()
    start = time.perf_counter()
    tokenizer = build_tokenizer(list(params.model.domains), params.model.max_objects)
    fmt = CompactFormat.for_tokenizer(tokenizer)
    t = params.transfer
    sizes = {d.domain: list(range(d.min_size, d.max_size + t.extra_sizes + 1)) for d in params.stream.domains}
    check_name_pool(params)
    transfer_set, unmeasured = measurable(transfer_tasks(sizes, t.per_size, t.seed), params.model.max_objects)
    exclude = excluded_hashes(root, params.stream)
    stream = TaskStream(list(params.stream.domains), fmt, params.stream.seed, frozenset(exclude))
    model = new_embedded_model(params.model, tokenizer, params.optimizer.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"pretrain: {n_params:,} parameters, vocabulary {len(tokenizer)}, {params.optimizer.steps} steps of "
        f"{params.optimizer.batch_size} fresh tasks ({len(exclude)} deploy/test tasks excluded)")
    stats = pretrain_loop(model, tokenizer, iter(stream), params.optimizer, log)
    log(f"pretrain: transfer curve on {len(transfer_set)} fresh tasks"
        + (f" (not measured, more objects than names: {', '.join(unmeasured)})" if unmeasured else ""))
    table = transfer_curve(model, tokenizer, fmt, transfer_set, k=t.k,
                           temperature=t.temperature, max_new_tokens=t.max_new_tokens, batch_size=t.batch_size)
    transfer = [{k: (None if v != v else v) for k, v in row.items()} for row in table.to_dict("records")]
    card = {
        "kind": "embedded-pretrain",
        "params": to_dict(params),
        "parameters": n_params,
        "vocab_size": len(tokenizer),
        "stream": {"examples": stats["examples"], "excluded_tasks": len(exclude), "skipped_as_excluded": stream.excluded,
                   "examples_by_domain_size": stats["examples_by_domain_size"]},
        "train_tokens": stats["train_tokens"], "padded_tokens": stats["padded_tokens"],
        "loss_curve": stats["loss_curve"], "final_loss": stats["final_loss"],
        "transfer": transfer,
        "wall_time_s": {"train": stats["wall_time_s"], "total": round(time.perf_counter() - start, 1)},
        "train_tokens_per_s": stats["train_tokens_per_s"],
        "commit": _commit(root),
    }
    with atomic_path(root / params.out, directory=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        save_tokenizer(tokenizer, tmp)
        write_text(tmp / EXCLUDED, "".join(f"{h}\n" for h in exclude))
        write_model_card(tmp, card)
    log(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return card
