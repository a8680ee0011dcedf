"""The `iterdeploy` command: one subcommand per job.

Each subcommand lives in `iterdeploy/commands/<name>.py` with `register(subparsers)`
that adds its parser and sets `func`. Only the chosen subcommand's module is imported
(`iterdeploy validate` never loads torch). Errors from the library reach the user as
one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from iterdeploy import threads
from iterdeploy.errors import IterdeployError

COMMANDS = {
    "validate": "validate plans against a PDDL task (exit 1 if any plan is invalid)",
    "tasks": "generate, import and check task sets",
    "run": "run the loop: task set, base model, every generation (dvc repro)",
    "stage": "make one artifact of the loop (run by dvc.yaml's stages)",
    "lineage": "show where every artifact (or one task's training plans) came from",
    "dvcgen": "regenerate dvc.yaml from params.yaml",
    "pretrain": "pre-train the embedded base model (its own params and DVC pipeline: pretrain/)",
    "sample": "sample plans from a model on a task set",
    "models": "model folders: content hash, import a GGUF chat model file",
    "report": "write the report folder (figures, summary.md, summary.json) from a run's artifacts",
    "grpo": "the RL baseline: GRPO with the validator as reward, on the loop's budget (grpo/params.yaml)",
}
"""Subcommand -> its line in `iterdeploy --help`."""
TORCH_COMMANDS = {"stage", "pretrain", "sample", "grpo"}
"""Subcommands that run torch: their OpenMP wait policy is chosen before torch loads (iterdeploy.threads)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, the other subcommands are placeholders (their modules are not imported)."""
    parser = argparse.ArgumentParser(prog="iterdeploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"iterdeploy.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def _chosen(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


EXIT_CODES = """exit status:
  0    success (every plan valid, everything checked)
  1    the answer is no: a plan or reference plan is invalid, dvc.yaml is out of date
  2    bad input or usage: one line on stderr names the file (and line) and the cause
  3    internal error, a bug: one line on stderr; ITERDEPLOY_DEBUG=1 also prints the traceback
  130  interrupted (Ctrl-C)
  141  the output was closed (e.g. piped into `head`)"""


def main(argv: list[str] | None = None) -> int:
    # Exit 1 means "a plan is invalid" to scripts: nothing else may exit 1, so a bug exits 3.
    command = "iterdeploy"
    argv = sys.argv[1:] if argv is None else argv
    chosen = _chosen(argv)
    if chosen in TORCH_COMMANDS:
        threads.choose_wait_policy()
    try:
        parser = build_parser(chosen if chosen in COMMANDS else "")
        parser.epilog = EXIT_CODES
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        args = parser.parse_args(argv)
        command = f"iterdeploy {args.command}"
        return int(args.func(args) or 0)
    except IterdeployError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not a bug. Point stdout at /dev/null so the
        # interpreter's final flush does not fail again on the closed pipe.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file descriptor (captured, embedded)
            pass
        return 141
    except Exception as exc:
        if os.environ.get("ITERDEPLOY_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        message = " ".join(str(exc).split())
        if len(message) > 200:
            message = message[:200] + "..."
        print(f"{command}: internal error: {type(exc).__name__}: {message} "
              "(a bug; set ITERDEPLOY_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
