"""`iterdeploy validate`: check plans against a task, or a batch of (domain, problem, plan) triples."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iterdeploy.errors import IterdeployError
from iterdeploy.planning import load_task, validate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate plans",
        description="Validate plans: `validate DOMAIN PROBLEM PLAN...` or `validate --batch PAIRS.jsonl`.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="DOMAIN PROBLEM PLAN [PLAN ...]")
    p.add_argument("--batch", metavar="PAIRS.jsonl",
                   help="one JSON object per line with `domain`, `problem` and `plan` paths")
    p.add_argument("--json", action="store_true", help="print one JSON object per plan instead of a table")
    p.add_argument("--strict", action="store_true",
                   help="plan files must hold only actions and ';' comments (default: tolerate prose and numbering)")
    p.add_argument("--task-cache", metavar="DIR",
                   help="cache compiled tasks in DIR, keyed by file content (pays off for large problems)")
    p.set_defaults(func=run)


def _read_batch(path: str) -> list[tuple[str, str, str]]:
    triples = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise IterdeployError(f"cannot read batch file: {exc.strerror}", path) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            triples.append((str(obj["domain"]), str(obj["problem"]), str(obj["plan"])))
        except (ValueError, KeyError, TypeError) as exc:
            cause = f"missing key {exc}" if isinstance(exc, KeyError) else "not a JSON object"
            raise IterdeployError(f"{cause}; expected {{\"domain\", \"problem\", \"plan\"}}", path, number) from None
    return triples


def run(args: argparse.Namespace) -> int:
    if args.batch:
        if args.paths:
            raise IterdeployError("give either --batch or DOMAIN PROBLEM PLAN..., not both")
        triples = _read_batch(args.batch)
    else:
        if len(args.paths) < 3:
            raise IterdeployError("expected DOMAIN PROBLEM PLAN [PLAN ...] (or --batch PAIRS.jsonl)")
        domain, problem, *plans = args.paths
        triples = [(domain, problem, plan) for plan in plans]

    tasks = {}
    rows = []
    for domain, problem, plan_path in triples:
        key = (domain, problem)
        if key not in tasks:
            tasks[key] = load_task(domain, problem, cache_dir=args.task_cache)
        try:
            text = Path(plan_path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise IterdeployError(f"cannot read plan file: {exc.strerror}", plan_path) from None
        verdict = validate(tasks[key], text, strict=args.strict)
        rows.append((plan_path, verdict))

    out = sys.stdout
    if args.json:
        for plan_path, verdict in rows:
            out.write(json.dumps({"plan": plan_path, **verdict.to_dict()}) + "\n")
    else:
        width = max(len(p) for p, _ in rows) if rows else 4
        out.write(f"{'plan':<{width}}  {'valid':<5}  {'length':>6}  detail\n")
        for plan_path, verdict in rows:
            detail = "" if verdict.valid else str(verdict)
            out.write(f"{plan_path:<{width}}  {'yes' if verdict.valid else 'no':<5}  {verdict.length:>6}  {detail}\n")
        valid = sum(v.valid for _, v in rows)
        out.write(f"{valid}/{len(rows)} valid\n")
    return 0 if all(v.valid for _, v in rows) else 1
