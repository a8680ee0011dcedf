"""`iterdeploy models`: model folders: their content hash."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="model folders: content hash",
                       description="Work with local model folders.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    h = actions.add_parser("hash", help="print a model folder's content hash (what params.yaml model.sha256 pins)")
    h.add_argument("dir", metavar="DIR")
    h.set_defaults(func=run_hash)


def run_hash(args: argparse.Namespace) -> int:
    from pathlib import Path

    from iterdeploy.artifacts import tree_hash
    from iterdeploy.errors import IterdeployError

    folder = Path(args.dir)
    if not folder.is_dir():
        raise IterdeployError("not a folder", folder)
    print(tree_hash(folder))
    return 0
