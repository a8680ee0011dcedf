"""Benchmark: generation time per task by size, for every built-in generator.

For each domain and primary size, `--tasks` tasks (seeds 0, 1, ...) are generated and the medians
printed as a markdown table:

- *generate ms*: `gen.generate(params, rng)`, the problem text and the constructive plan;
- *check ms*: what `generate_task` adds to that: reading the problem with our reader
  (`task_from_text`) and validating the plan (every plan is checked before it can reach a task set);
- *plan*: median reference plan length.

With `--fd SECONDS`, Fast Downward (LAMA-first, through up-fast-downward) also plans every task with
that time limit, and a second table compares lengths where it finished: reference / FD per task,
median and maximum. Reference plans may be longer than FD's, never invalid.

    python benchmarks/generators.py                      # all ten domains, ~1 minute
    python benchmarks/generators.py --domains sokoban,rovers --tasks 3
    python benchmarks/generators.py --fd 20 --tasks 3 --sizes small   # + Fast Downward, a few minutes
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from iterdeploy.planning import task_from_text, validate
from iterdeploy.tasks.domains import domain_text
from iterdeploy.tasks.generators import GENERATORS, get_generator, params_dict

SIZES = {  # up to about the largest IPC 2023 Learning Track testing/medium tasks
    "blocksworld": (5, 10, 20, 50, 100),
    "childsnack": (5, 10, 20, 40, 100),
    "ferry": (5, 10, 20, 50, 100),
    "floortile": (3, 5, 10, 15, 22),
    "miconic": (5, 10, 20, 50, 100),
    "rovers": (5, 10, 20, 40, 88),
    "satellite": (5, 10, 20, 40, 80),
    "sokoban": (1, 2, 4, 10, 20, 34),
    "spanner": (5, 10, 20, 50, 100),
    "transport": (5, 10, 20, 44, 100),
}
SMALL = {  # sizes Fast Downward usually solves within seconds
    "blocksworld": (4, 8, 12), "childsnack": (3, 6, 10), "ferry": (3, 6, 10), "floortile": (2, 3, 4),
    "miconic": (3, 6, 10), "rovers": (5, 10, 15), "satellite": (3, 6, 10), "sokoban": (1, 2, 3),
    "spanner": (2, 4, 8), "transport": (3, 6, 10),
}


def measure(domain: str, size: int, tasks: int, fd_timeout: float | None):
    gen = get_generator(domain)
    params = gen.from_size(size)
    dom = domain_text(domain)
    gen_ms, check_ms, lengths, ratios = [], [], [], []
    for seed in range(tasks):
        t0 = time.perf_counter()
        task = gen.generate(params, random.Random(seed), f"{domain}-{size}-{seed}")
        t1 = time.perf_counter()
        verdict = validate(task_from_text(dom, task.problem), "".join(f"{a}\n" for a in task.plan))
        t2 = time.perf_counter()
        if not verdict.valid:
            raise SystemExit(f"{domain} size {size} seed {seed}: invalid reference plan: {verdict}")
        gen_ms.append(1000 * (t1 - t0))
        check_ms.append(1000 * (t2 - t1))
        lengths.append(len(task.plan))
        if fd_timeout:
            ratios.append(fd_ratio(domain, task, fd_timeout))
    return params, gen_ms, check_ms, lengths, ratios


def fd_ratio(domain: str, task, timeout: float):
    """(reference length, FD length) or None when FD found no plan in time."""
    from iterdeploy.errors import IterdeployError
    from iterdeploy.tasks.fast_downward import fast_downward_plan

    try:
        plan = fast_downward_plan(domain_text(domain), task.problem, timeout=timeout)
    except IterdeployError:
        return None
    if not validate(task_from_text(domain_text(domain), task.problem), "".join(f"{a}\n" for a in plan)).valid:
        raise SystemExit(f"{domain}: Fast Downward's plan is invalid for our validator")
    return len(task.plan), len(plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default=",".join(sorted(GENERATORS)), help="comma-separated generators")
    parser.add_argument("--tasks", type=int, default=5, help="tasks per size (seeds 0..N-1)")
    parser.add_argument("--sizes", choices=("default", "small"), default="default",
                        help="size range: up to IPC testing/medium (default) or small ones FD solves")
    parser.add_argument("--fd", type=float, default=None, metavar="SECONDS",
                        help="also plan each task with Fast Downward, this time limit per task")
    args = parser.parse_args(argv)
    domains = [d for d in args.domains.split(",") if d]
    for d in domains:
        get_generator(d)
    table = SMALL if args.sizes == "small" else SIZES
    start = time.perf_counter()
    print("| generator | size | params | plan | generate ms | check ms |")
    print("|---|---:|---|---:|---:|---:|")
    fd_rows = []
    for domain in domains:
        for size in table[domain]:
            params, gen_ms, check_ms, lengths, ratios = measure(domain, size, args.tasks, args.fd)
            shown = ", ".join(f"{k}={v}" for k, v in params_dict(params).items())
            print(f"| {domain} | {size} | {shown} | {statistics.median(lengths):g} | "
                  f"{statistics.median(gen_ms):.2f} | {statistics.median(check_ms):.2f} |", flush=True)
            if args.fd:
                fd_rows.append((domain, size, ratios))
    if args.fd:
        print(f"\nFast Downward (LAMA-first, {args.fd:g} s per task) against the reference plans:\n")
        print("| generator | size | FD solved | reference / FD median | max | reference shorter | longer |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for domain, size, ratios in fd_rows:
            solved = [r for r in ratios if r is not None]
            if not solved:
                print(f"| {domain} | {size} | 0/{len(ratios)} | - | - | - | - |")
                continue
            q = [ours / fd for ours, fd in solved]
            print(f"| {domain} | {size} | {len(solved)}/{len(ratios)} | {statistics.median(q):.2f} | {max(q):.2f} | "
                  f"{sum(o < f for o, f in solved)} | {sum(o > f for o, f in solved)} |", flush=True)
    print(f"\n{len(domains)} generators, {args.tasks} tasks per size; {time.perf_counter() - start:.0f} s in all.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
