"""`iterdeploy validate`: check plans against a task, or a batch of (domain, problem, plan) triples."""

from __future__ import annotations

import argparse
import json
import sys

from iterdeploy.errors import IterdeployError
from iterdeploy.planning import load_task, validate
from iterdeploy.planning.pddl import MAX_FILE_BYTES, read_file_bytes
from iterdeploy.planning.taskcache import load_cached

BATCH_KEYS = ("domain", "problem", "plan")


def _byte_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, not {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate plans",
        description="Validate plans: `validate DOMAIN PROBLEM PLAN...` or `validate --batch PAIRS.jsonl`.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="DOMAIN PROBLEM PLAN [PLAN ...]")
    p.add_argument("--batch", metavar="PAIRS.jsonl",
                   help="one JSON object per line with `domain`, `problem` and `plan` paths (UTF-8)")
    p.add_argument("--json", action="store_true", help="print one JSON object per plan instead of a table")
    p.add_argument("--strict", action="store_true",
                   help="plan files must hold only actions and ';' comments (default: tolerate prose and numbering)")
    p.add_argument("--task-cache", metavar="DIR",
                   help="cache parsed tasks in DIR, keyed by file content (pays off for large problems). "
                        "Entries are JSON of the parsed domain and problem: reading one cannot run code, "
                        "but whoever can write DIR decides the verdicts, so use a directory only you can write")
    p.add_argument("--max-file-bytes", type=_byte_count, metavar="N",
                   help=f"refuse domain, problem, plan and batch files larger than N bytes "
                        f"(default: $ITERDEPLOY_MAX_FILE_BYTES or {MAX_FILE_BYTES:,})")
    p.set_defaults(func=run)


def _batch_line(obj, path: str, number: int) -> tuple[str, str, str]:
    def bad(cause: str) -> IterdeployError:
        return IterdeployError(f"{cause}; expected {{\"domain\", \"problem\", \"plan\"}} with string paths",
                               path, number)

    if not isinstance(obj, dict):
        raise bad(f"a JSON {type(obj).__name__ if obj is not None else 'null'}, not an object")
    for key in BATCH_KEYS:
        if key not in obj:
            raise bad(f"missing key {key!r}")
        value = obj[key]
        if not isinstance(value, str):
            raise bad(f"key {key!r} is a JSON {'null' if value is None else type(value).__name__}, not a string")
        if not value:
            raise bad(f"key {key!r} is empty")
        try:
            value.encode("utf-8")
        except UnicodeError:  # a lone surrogate escape such as "\ud800": no file has that name
            raise bad(f"key {key!r} is not a valid file name") from None
    return obj["domain"], obj["problem"], obj["plan"]


def _unique_keys(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # json.loads would silently keep the last value
        seen = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {twice[:40]!r} occurs twice")
    return obj


def _read_batch(path: str, max_bytes: int | None) -> list[tuple[str, str, str]]:
    data = read_file_bytes(path, "batch", max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise IterdeployError(f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}", path, line) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    triples = []
    # JSON Lines ends lines with \n only: a JSON string may hold U+2028, which splitlines() would cut.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise IterdeployError(f"not JSON ({exc.msg} at column {exc.colno})", path, number) from None
        except ValueError as exc:
            raise IterdeployError(f"not a valid object: {exc}", path, number) from None
        except RecursionError:
            raise IterdeployError("not a batch line: JSON nested too deeply", path, number) from None
        triples.append(_batch_line(obj, path, number))
    return triples


def _shown(path: str) -> str:
    """A path as one printable table cell."""
    return path if path.isprintable() else ascii(path)[1:-1]


def run(args: argparse.Namespace) -> int:
    if args.batch:
        if args.paths:
            raise IterdeployError("give either --batch or DOMAIN PROBLEM PLAN..., not both")
        triples = _read_batch(args.batch, args.max_file_bytes)
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
            if args.task_cache is not None:
                tasks[key] = load_cached(domain, problem, args.task_cache, args.max_file_bytes)
            else:
                tasks[key] = load_task(domain, problem, args.max_file_bytes)
        text = read_file_bytes(plan_path, "plan", args.max_file_bytes).decode("utf-8", errors="replace")
        verdict = validate(tasks[key], text, strict=args.strict)
        rows.append((plan_path, verdict))

    out = sys.stdout
    if args.json:
        for plan_path, verdict in rows:
            out.write(json.dumps({"plan": plan_path, **verdict.to_dict()}) + "\n")
    else:
        shown = [_shown(p) for p, _ in rows]
        width = max(map(len, shown)) if rows else 4
        out.write(f"{'plan':<{width}}  {'valid':<5}  {'length':>6}  detail\n")
        for plan_path, (_, verdict) in zip(shown, rows):
            detail = "" if verdict.valid else str(verdict)
            out.write(f"{plan_path:<{width}}  {'yes' if verdict.valid else 'no':<5}  {verdict.length:>6}  {detail}\n")
        valid = sum(v.valid for _, v in rows)
        out.write(f"{valid}/{len(rows)} valid\n")
    return 0 if all(v.valid for _, v in rows) else 1
