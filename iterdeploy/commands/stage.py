"""`iterdeploy stage ARTIFACT --gen N`: make one artifact of the loop (what each dvc.yaml stage runs)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iterdeploy.commands import add_config_arguments, add_project_arguments, load_project_params
from iterdeploy.pipeline.registry import ARTIFACTS, TASKSET


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage", help="make one artifact of the loop (run by dvc.yaml's stages)",
        description="Make one artifact: check its inputs against dvc.lock, read them under the project root, "
                    "write the outputs atomically. dvc.yaml runs these; Dagster calls the same functions. "
                    "Flags override params.yaml fields for this run only.")
    p.add_argument("artifact", choices=[TASKSET] + [a.name for a in ARTIFACTS])
    p.add_argument("--gen", type=int, default=0, metavar="N", help="generation (0 = the base model)")
    add_project_arguments(p)
    p.add_argument("--json", action="store_true", help="print the stage's summary as JSON on stdout")
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.pipeline.context import Context
    from iterdeploy.pipeline.registry import run_stage

    ctx = Context(root=Path(args.root).resolve(), params=load_project_params(args), progress=sys.stderr.isatty())
    summary = run_stage(ctx, args.artifact, args.gen)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        where = "" if args.artifact == TASKSET else f" gen_{args.gen:03d}"
        print(f"done:{where} {args.artifact} in {summary.get('seconds', 0)}s", flush=True)
    return 0
