"""`iterdeploy lineage`: the chain of artifacts per generation with DVC's content hashes, or one task's story."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iterdeploy.commands import add_project_arguments, load_project_params


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lineage", help="show where every artifact (or one task's training plans) came from",
        description="Per generation: checkpoint(g-1) -> samples -> validated_plans -> curated_dataset -> "
                    "checkpoint(g) -> evaluation, with the md5 that dvc.lock records and whether the file on "
                    "disk still has it. With --task: the generation that first solved the task and the origin "
                    "of each of its training plans.")
    add_project_arguments(p)
    p.add_argument("--task", metavar="ID", help="one task's lineage")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from iterdeploy.pipeline.lineage import format_pipeline, format_task, pipeline_lineage, task_lineage

    root = Path(args.root)
    params = load_project_params(args)
    if args.task:
        data = task_lineage(root, params, args.task)
        text = format_task(data)
    else:
        data = pipeline_lineage(root, params)
        text = format_pipeline(data)
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.json else text)
    return 0
