"""`iterdeploy dvcgen`: write dvc.yaml from params.yaml (one stage per artifact, unrolled over generations)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iterdeploy.commands import add_project_arguments, load_project_params, params_file_in_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dvcgen", help="regenerate dvc.yaml from params.yaml",
        description="Write dvc.yaml from params.yaml: DVC has no loops, so the stages of every generation "
                    "are unrolled from the stage registry. The checked-in dvc.yaml must equal the output.")
    add_project_arguments(p)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if dvc.yaml is out of date")
    p.add_argument("--stdout", action="store_true", help="print the generated file instead of writing it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.pipeline.dvcgen import render_dvc_yaml, write_dvc_yaml

    params = load_project_params(args)
    params_file = params_file_in_project(args)
    if args.stdout:
        sys.stdout.write(render_dvc_yaml(params, params_file))
        return 0
    path = Path(args.root) / "dvc.yaml"
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != render_dvc_yaml(params, params_file):
            print(f"{path} is out of date with {args.params}; run `iterdeploy dvcgen`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path, changed = write_dvc_yaml(params, args.root, params_file)
    print(f"{'wrote' if changed else 'unchanged:'} {path} ({params.generations} generations)")
    return 0
