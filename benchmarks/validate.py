"""Benchmark: iterdeploy's plan validator against unified-planning's and VAL's.

The same plans (each problem's reference plan and seeded mutants of it) go to all
three; verdicts are compared, and the script prints markdown tables:

1. checking speed once the task is read (plans/s) and ratios,
2. one-time cost of reading a task, and end-to-end time for the batch
   (reading included: iterdeploy in-process; VAL one call per problem, many plans per call),
3. reading the largest problem of each domain (ours, ours from the task cache, VAL;
   UP with --up-large: it takes up to ~20 s per problem),
4. `iterdeploy validate --batch` as a subprocess against VAL on all plans.

    python benchmarks/validate.py                       # ~2 minutes (more on a busy machine)
    python benchmarks/validate.py --domains ferry,rovers --max-problems 2 --mutations 50
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iterdeploy.planning import load_task, validate
from iterdeploy.planning import reference
from iterdeploy.testing.mutations import mutants
from iterdeploy.planning.pddl import read_domain, read_problem
from iterdeploy.testing.validators import UPTask, val_validate
from iterdeploy.planning.task import Task
from iterdeploy.planning.taskcache import load_cached

REPO = Path(__file__).resolve().parents[1]
IPC_ROOT = Path(os.environ.get("IPC_BENCHMARKS", REPO.parent / "shared" / "benchmarks" / "ipc2023-learning"))
DOMAINS = ["blocksworld", "childsnack", "ferry", "floortile", "miconic",
           "rovers", "satellite", "sokoban", "spanner", "transport"]

EMPTY_PLAN = Path("empty.plan")  # set by main(), in a temporary directory
_val_calls = 0
_real_run = reference._run


def _counting_run(*args, **kwargs):
    """reference._run, counting VAL processes (VAL restarts after a plan it aborts on)."""
    global _val_calls
    _val_calls += 1
    return _real_run(*args, **kwargs)


def timed(fn, *args, repeat: int = 1):
    """(result, best wall time in seconds over `repeat` runs)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def pick_problems(domain: str, count: int) -> list[tuple[Path, Path]]:
    """(problem, reference plan) pairs, half from training/easy and half from testing/easy,
    evenly spread over each split's problems (which grow with their number)."""
    chosen = []
    for split, n in (("training", (count + 1) // 2), ("testing", count // 2)):
        plans = sorted((IPC_ROOT / domain / "plans" / split / "easy").glob("*.plan"))
        for k in range(min(n, len(plans))):
            plan = plans[(2 * k + 1) * len(plans) // (2 * n)]
            chosen.append((IPC_ROOT / domain / split / "easy" / f"{plan.stem}.pddl", plan))
    return chosen


def read_task(domain_path: Path, problem_path: Path) -> Task:
    """Read domain and problem from scratch (no in-memory domain cache)."""
    domain = read_domain(domain_path)
    return Task(domain, read_problem(problem_path, domain))


def val_read(domain_path: Path, problem_path: Path, empty_plan: Path) -> None:
    """VAL itself reading the task: the binary on one empty plan, no wrapper."""
    subprocess.run([str(reference.val_binary()), str(domain_path), str(problem_path), str(empty_plan)],
                   capture_output=True, check=False)


def check_all(task: Task, texts: list[str]) -> list[bool]:
    return [validate(task, text, strict=True).valid for text in texts]


def bench_problem(domain_path: Path, problem_path: Path, plan_path: Path, mutations: int, seed: int) -> dict:
    global _val_calls
    reference_plan = plan_path.read_text()
    texts = [reference_plan] + [t for _, t in mutants(load_task(domain_path, problem_path), reference_plan,
                                                      mutations, seed)]
    row: dict = {"plans": len(texts)}
    # UP leaves many objects alive (its expression manager is global); freezing them keeps the
    # cyclic GC from walking them during our measurements, as in a process without UP.
    gc.collect()
    gc.freeze()
    _, row["ours_parse"] = timed(read_task, domain_path, problem_path, repeat=3)
    row["ours_check"] = float("inf")
    for _ in range(3):  # each time on a fresh task: grounding caches empty, as in the loop
        task = read_task(domain_path, problem_path)
        ours, seconds = timed(check_all, task, texts)
        row["ours_check"] = min(row["ours_check"], seconds)
    up, row["up_parse"] = timed(UPTask, domain_path, problem_path)
    up_ok, row["up_check"] = timed(lambda: [up.validate(t) for t in texts])
    _, row["val_parse"] = timed(val_read, domain_path, problem_path, EMPTY_PLAN, repeat=3)
    _val_calls = 0
    val_ok, row["val_total"] = timed(val_validate, domain_path, problem_path, texts, repeat=2)
    row["val_calls"] = _val_calls // 2
    row["val_check"] = max(row["val_total"] - row["val_parse"] * _val_calls, 1e-6)
    row["valid"] = sum(ours)
    row["disagree"] = sum(not (o == u == v) for o, u, v in zip(ours, up_ok, val_ok))
    row["texts"] = texts
    return row


def fmt_rate(plans: int, seconds: float) -> str:
    return f"{plans / seconds:,.0f}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def cpu_timed(fn, *args, repeat: int = 3, children: bool = False) -> tuple[float, float]:
    """(best wall, best CPU) seconds; CPU time of child processes with `children` (for VAL).
    CPU time is what to compare on a machine shared with other jobs."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        before, start = resource.getrusage(who), time.perf_counter()
        fn(*args)
        after = resource.getrusage(who)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def large_problems(domains: list[str], with_up: bool) -> str:
    rows = []
    for domain in domains:
        domain_path = IPC_ROOT / domain / "domain.pddl"
        problem = max((IPC_ROOT / domain / "testing" / "medium").glob("*.pddl"), key=lambda p: p.stat().st_size)
        task = read_task(domain_path, problem)
        ours = cpu_timed(read_task, domain_path, problem)
        with tempfile.TemporaryDirectory() as cache:
            load_cached(domain_path, problem, cache)
            cached = cpu_timed(load_cached, domain_path, problem, cache)
        val = cpu_timed(val_read, domain_path, problem, EMPTY_PLAN, children=True)
        row = [domain, problem.name, f"{problem.stat().st_size / 1024:,.0f}", f"{len(task.init):,}"]
        row += [f"{wall * 1000:.1f} / {cpu * 1000:.1f}" for wall, cpu in (ours, cached, val)]
        row.append(f"{val[1] / ours[1]:.1f}x")
        if with_up:
            _, up = timed(UPTask, domain_path, problem)
            row.append(f"{up * 1000:,.0f}")
        rows.append(row)
    header = ["domain", "largest problem", "KB", "init atoms", "ours ms wall / cpu", "ours cached", "VAL",
              "VAL/ours (cpu)"]
    return table(header + (["UP ms"] if with_up else []), rows)


def cli_vs_val(batches: list[tuple[Path, Path, list[str]]]) -> str:
    """All plans through one `iterdeploy validate --batch` process, against VAL called once per problem."""
    with tempfile.TemporaryDirectory() as tmp:
        lines, val_time, n = [], 0.0, 0
        for i, (domain_path, problem_path, texts) in enumerate(batches):
            for j, text in enumerate(texts):
                plan = Path(tmp) / f"{i}-{j}.plan"
                plan.write_text(text)
                lines.append(json.dumps({"domain": str(domain_path), "problem": str(problem_path), "plan": str(plan)}))
            n += len(texts)
            _, seconds = timed(val_validate, domain_path, problem_path, texts)
            val_time += seconds
        pairs = Path(tmp) / "pairs.jsonl"
        pairs.write_text("\n".join(lines) + "\n")
        cmd = [sys.executable, "-m", "iterdeploy", "validate", "--strict", "--json", "--batch", str(pairs)]
        proc, ours = timed(lambda: subprocess.run(cmd, capture_output=True, text=True))
        if proc.returncode not in (0, 1):
            raise SystemExit(f"iterdeploy validate failed: {proc.stderr}")
    return table(["plans", "tasks", "iterdeploy validate --batch (subprocess) s", "VAL (1 call per task) s",
                  "VAL/ours"], [[n, len(batches), f"{ours:.2f}", f"{val_time:.2f}", f"{val_time / ours:.1f}x"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated IPC domains")
    parser.add_argument("--max-problems", type=int, default=4, help="problems per domain (easy, both splits)")
    parser.add_argument("--mutations", type=int, default=150, help="mutants per problem, besides its reference plan")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-large", action="store_true", help="skip reading the largest problem per domain")
    parser.add_argument("--up-large", action="store_true", help="also time UP reading the largest problems (slow)")
    args = parser.parse_args(argv)
    domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    unknown = sorted(set(domains) - set(DOMAINS))
    if unknown:
        parser.error(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}")
    reference.up_validator()  # engine setup is not part of any measurement
    reference._run = _counting_run
    global EMPTY_PLAN
    with tempfile.TemporaryDirectory(prefix="iterdeploy-bench-") as tmp:
        EMPTY_PLAN = Path(tmp) / "empty.plan"
        EMPTY_PLAN.write_text("")
        return run(args, domains)


def run(args: argparse.Namespace, domains: list[str]) -> int:
    speed, cost, batches, disagreements = [], [], [], 0
    totals = dict.fromkeys(["plans", "ours_check", "up_check", "val_check", "ours_e2e", "val_total"], 0.0)
    started = time.perf_counter()
    for domain in domains:
        domain_path = IPC_ROOT / domain / "domain.pddl"
        problems = pick_problems(domain, args.max_problems)
        rows = [bench_problem(domain_path, p, plan, args.mutations, args.seed + k)
                for k, (p, plan) in enumerate(problems)]
        batches += [(domain_path, p, r["texts"]) for (p, _), r in zip(problems, rows)]
        s = {key: sum(r[key] for r in rows) for key in rows[0] if key != "texts"}
        disagreements += s["disagree"]
        ours_e2e = s["ours_parse"] + s["ours_check"]
        for key in totals:
            totals[key] += ours_e2e if key == "ours_e2e" else s[key]
        n, k = int(s["plans"]), len(rows)
        speed.append([domain, k, n, int(s["valid"]), fmt_rate(n, s["ours_check"]), fmt_rate(n, s["up_check"]),
                      fmt_rate(n, s["val_check"]), f"{s['up_check'] / s['ours_check']:,.0f}x",
                      f"{s['val_check'] / s['ours_check']:.1f}x", int(s["disagree"])])
        cost.append([domain, f"{s['ours_parse'] / k * 1000:.2f}", f"{s['up_parse'] / k * 1000:.0f}",
                     f"{s['val_parse'] / k * 1000:.1f}", f"{ours_e2e * 1000:.0f}", f"{s['val_total'] * 1000:.0f}",
                     int(s["val_calls"]), f"{s['val_total'] / ours_e2e:.1f}x"])
        print(f"  {domain}: {n} plans, {time.perf_counter() - started:.0f} s so far", file=sys.stderr, flush=True)

    n = int(totals["plans"])
    speed.append(["**all**", "", n, "", fmt_rate(n, totals["ours_check"]), fmt_rate(n, totals["up_check"]),
                  fmt_rate(n, totals["val_check"]), f"{totals['up_check'] / totals['ours_check']:,.0f}x",
                  f"{totals['val_check'] / totals['ours_check']:.1f}x", disagreements])
    print("\n### Checking plans once the task is read (plans/s)\n")
    print(table(["domain", "tasks", "plans", "valid", "ours", "UP", "VAL", "ours/UP", "ours/VAL", "disagree"], speed))
    print("\n### Reading a task once, and the whole batch end to end\n")
    print(table(["domain", "read ours ms", "read UP ms", "read VAL ms", "batch ours ms", "batch VAL ms",
                 "VAL calls", "VAL/ours"], cost))
    if not args.no_large:
        print("\n### Reading the largest problem of each domain (testing/medium)\n")
        print(large_problems(domains, args.up_large))
    print("\n### Subprocess against subprocess\n")
    print(cli_vs_val(batches))
    print(f"\n{n} plans, {disagreements} verdict disagreements; {time.perf_counter() - started:.0f} s in all.")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
