"""`iterdeploy stage ARTIFACT --gen N`: make one artifact of the loop (what each dvc.yaml stage runs)."""

from __future__ import annotations

import argparse
import json

from iterdeploy.commands import add_project_arguments

ARTIFACTS = ["taskset", "checkpoint", "samples", "validated_plans", "curated_dataset", "evaluation"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stage", help="make one artifact of the loop (run by dvc.yaml's stages)",
        description="Make one artifact: read its inputs under the project root, write its outputs atomically. "
                    "dvc.yaml runs these; Dagster calls the same functions (iterdeploy.stages).")
    p.add_argument("artifact", choices=ARTIFACTS)
    p.add_argument("--gen", type=int, default=0, metavar="N", help="generation (0 = the base model)")
    add_project_arguments(p)
    p.add_argument("--threads", type=int, metavar="N", help="override params `threads`")
    p.add_argument("--device", metavar="DEV", help="override params `device`")
    p.add_argument("--json", action="store_true", help="print the stage's summary as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.stages import make_context, run_stage

    ctx = make_context(args.root, args.params, threads=args.threads, device=args.device)
    summary = run_stage(ctx, args.artifact, args.gen)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        where = "" if args.artifact == "taskset" else f" gen_{args.gen:03d}"
        print(f"done:{where} {args.artifact} in {summary.get('seconds', 0)}s", flush=True)
    return 0
