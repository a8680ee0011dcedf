"""Transfer curves: how often a model solves fresh generated tasks, size by size.

The measurement behind every choice of the pre-training recipe: greedy success and pass@k per
(domain, size) from the smallest size to well beyond the pre-training maximum, on tasks drawn
with their own seed namespace (none of them a task of the loop's task set by construction of
the seeds; small sizes may repeat stream tasks, which is what "in range" measures).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import pandas as pd

from iterdeploy.model.decoding import generate
from iterdeploy.model.sampling_config import SamplingConfig
from iterdeploy.planning import Task, validate
from iterdeploy.planning.pddl import parse_domain, parse_problem
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import get_generator


@dataclass(frozen=True)
class TransferTask:
    task_id: str
    domain: str
    size: int
    task: Task
    renaming: int


def transfer_tasks(sizes: dict[str, list[int]], per_size: int, seed: int = 0) -> list[TransferTask]:
    """`per_size` fresh tasks per (domain, size), each with its own renaming seed."""
    out = []
    for domain, domain_sizes in sizes.items():
        parsed = parse_domain(domain_text(domain))
        gen = get_generator(domain)
        for size in domain_sizes:
            for i in range(per_size):
                task_id = f"{domain}-transfer-s{size:02d}-{i:03d}"
                digest = hashlib.sha256(f"transfer/{seed}/{task_id}".encode()).digest()
                rng = random.Random(int.from_bytes(digest[:8], "big"))
                problem = gen.generate(gen.from_size(size), rng, task_id).problem
                out.append(TransferTask(task_id, domain, size, Task(parsed, parse_problem(problem, parsed)),
                                        rng.randrange(2**31)))
    return out


def transfer_curve(model, tokenizer, fmt, tasks: list[TransferTask], k: int = 8, temperature: float = 1.0,
                   max_new_tokens: int = 512, batch_size: int = 64, progress: bool = False) -> pd.DataFrame:
    """Per (domain, size): tasks, greedy (solved fraction), pass_at_k (a valid plan among k samples),
    valid_rate (of the k samples) and the mean length of valid plans."""
    prompts = [(t.task_id, fmt.prompt(t.task, t.renaming)) for t in tasks]
    by_id = {t.task_id: t for t in tasks}
    common = dict(max_new_tokens=max_new_tokens, batch_size=batch_size)
    greedy = generate(model, tokenizer, prompts, SamplingConfig(k=1, temperature=0.0, **common), progress)
    sampled = generate(model, tokenizer, prompts, SamplingConfig(k=k, temperature=temperature, top_p=1.0,
                                                                 seed=1, **common), progress) if k else []
    rows = []
    for mode, outs in (("greedy", greedy), ("sample", sampled)):
        for r in outs:
            t = by_id[r["task_id"]]
            plan = fmt.plan_from_completion(t.task, r["completion"], t.renaming)
            ok = bool(plan.ok and validate(t.task, plan).valid)
            rows.append({"task_id": t.task_id, "domain": t.domain, "size": t.size, "mode": mode, "valid": ok,
                         "length": len(plan.steps) if ok else None})
    df = pd.DataFrame(rows)
    per_task = df.groupby(["domain", "size", "task_id", "mode"])["valid"].agg(["any", "mean"]).unstack("mode")
    table = pd.DataFrame({
        "greedy": per_task[("any", "greedy")],
        "pass_at_k": per_task[("any", "sample")] if k else pd.NA,
        "valid_rate": per_task[("mean", "sample")] if k else pd.NA,
    }).groupby(["domain", "size"]).mean()
    table.insert(0, "tasks", df[df["mode"] == "greedy"].groupby(["domain", "size"]).size())
    table["valid_length"] = df[df["valid"]].groupby(["domain", "size"])["length"].mean()
    return table.reset_index()
