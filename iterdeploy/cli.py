"""The `iterdeploy` command: one subcommand per job.

Each subcommand lives in `iterdeploy/commands/<name>.py` with `register(subparsers)`
that adds its parser and sets `func`. Errors from the library reach the user as
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from iterdeploy.errors import IterdeployError

COMMANDS = ["validate", "tasks", "run", "stage", "lineage", "dvcgen", "bootstrap", "sample", "report"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iterdeploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"iterdeploy.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except IterdeployError as exc:
        print(f"iterdeploy {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"iterdeploy {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
