"""`iterdeploy tasks`: generate, import and check task sets."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from iterdeploy import config
from iterdeploy.errors import ConfigError
from iterdeploy.tasks.check import check_plans, format_summary, summarize
from iterdeploy.tasks.spec import DEFAULT_SPEC, TaskSetSpec, load_spec
from iterdeploy.tasks.taskset import build_taskset, from_collection, load_manifest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tasks", help="generate, import and check task sets",
                       description="Build task sets (problems, reference plans, manifest) and check them.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    g = actions.add_parser("generate", help="generate a task set with the built-in generators",
                           description="Generate a task set: problems, reference plans and manifest.parquet.")
    g.add_argument("--out", required=True, metavar="DIR", help="task set folder to write (replaced if it is one)")
    g.add_argument("--params", default="params.yaml", metavar="FILE",
                   help="params.yaml (its `tasks:` section) or a spec file, YAML or JSON (default: params.yaml; "
                        "the built-in spec when there is none)")
    g.add_argument("--domains", metavar="A,B", help="only these domains of the spec")
    config.add_arguments(g, TaskSetSpec, prefix="tasks")
    g.set_defaults(func=run_generate)

    i = actions.add_parser("import", help="import a PDDL collection laid out like the IPC 2023 Learning Track",
                           description="Copy ROOT/<domain>/{training,testing}/<difficulty>/*.pddl and their plans "
                                       "into a task set (training -> train, testing -> test).")
    i.add_argument("--from", dest="root", required=True, metavar="ROOT", help="collection root folder")
    i.add_argument("--out", required=True, metavar="DIR", help="task set folder to write")
    i.add_argument("--domains", metavar="A,B", help="only these domains (default: all found)")
    i.set_defaults(func=run_import)

    c = actions.add_parser("check", help="validate every reference plan of a task set",
                           description="Validate every reference plan and print a summary per domain and split. "
                                       "Exit status 1 if any plan is invalid.")
    c.add_argument("dir", metavar="DIR", help="task set folder")
    c.set_defaults(func=run_check)


def _domains(arg: str | None) -> list[str] | None:
    if arg is None:
        return None
    names = [d.strip() for d in arg.split(",") if d.strip()]
    if not names:
        raise ConfigError("--domains: give a comma-separated list of domain names")
    return names


def _report(manifest, out: str, seconds: float) -> None:
    per_domain = Counter(manifest["domain"])
    parts = ", ".join(f"{d} {n}" for d, n in per_domain.items())
    print(f"wrote {len(manifest)} tasks ({parts}) to {out} in {seconds:.1f}s")
    print(f"check the reference plans with: iterdeploy tasks check {out}")


def run_generate(args: argparse.Namespace) -> int:
    spec = load_spec(args.params) if Path(args.params).is_file() or args.params != "params.yaml" else DEFAULT_SPEC
    changes = {key.removeprefix("tasks."): value for key, value in config.overrides(args).items()}
    if changes:
        spec = config.build(TaskSetSpec, {**config.to_dict(spec), **changes}, "tasks")
    if args.domains:
        spec = spec.only(_domains(args.domains))
    start = time.perf_counter()
    manifest = build_taskset(spec, args.out)
    _report(manifest, args.out, time.perf_counter() - start)
    return 0


def run_import(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    manifest = build_taskset(from_collection(args.root, _domains(args.domains)), args.out)
    _report(manifest, args.out, time.perf_counter() - start)
    return 0


def run_check(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.dir)
    checks = check_plans(args.dir, manifest)
    out = sys.stdout
    out.write(format_summary(summarize(manifest, checks)))
    out.write("unique: distinct problems in the split; shared: tasks whose problem also occurs in another split\n")
    bad = [c for c in checks if c.valid is False]
    for c in bad[:10]:
        out.write(f"invalid: {c.task_id}: {c.message}\n")
    if len(bad) > 10:
        out.write(f"... and {len(bad) - 10} more invalid\n")
    with_plan = sum(c.valid is not None for c in checks)
    out.write(f"{with_plan - len(bad)}/{with_plan} reference plans valid\n")
    return 1 if bad else 0
