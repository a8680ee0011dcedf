"""CLI subcommands, one module each, and what they share: the project folder and its configuration.

Every command that works on a project reads its configuration tree (`--params`, default params.yaml);
`add_config_arguments` turns the sections a command uses into `--section.field` flags that override
the file's fields (`iterdeploy sample --sampling.k 16 --runtime.threads 1`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iterdeploy import config


def add_project_arguments(parser: argparse.ArgumentParser, params: str | None = "params.yaml",
                          what: str = "parameters file") -> None:
    """--root and --params (default `params`; none when None), the same in every command that works on a
    project folder."""
    parser.add_argument("--root", default=".", metavar="DIR", help="project root (default: .)")
    if params is not None:
        parser.add_argument("--params", default=params, metavar="FILE",
                            help=f"{what}, relative to the root (default: {params})")


def add_config_arguments(parser: argparse.ArgumentParser, sections: list[str] | None = None, cls=None) -> None:
    """`--section.field` flags for the named sections of the loop's configuration (all when None)."""
    if cls is None:
        from iterdeploy.pipeline.params import LoopParams as cls
    config.add_arguments(parser, cls, sections)


def params_path(args: argparse.Namespace) -> Path:
    path = Path(args.params)
    return path if path.is_absolute() else Path(args.root) / path


def params_file_in_project(args: argparse.Namespace) -> str:
    """The --params file relative to the project root (posix), as dvc.yaml names it; it must lie inside the
    root, where DVC tracks it."""
    from iterdeploy.errors import ConfigError

    root = Path(args.root).resolve()
    try:
        return params_path(args).resolve().relative_to(root).as_posix()
    except ValueError:
        raise ConfigError(f"--params {args.params}: must be a file inside the project root {root} "
                          "(dvc.yaml's stages read it from there)") from None


def load_project_params(args: argparse.Namespace):
    """The loop's parameters of the project, with the command line's `--section.field` overrides."""
    from iterdeploy.pipeline.params import load_params

    return load_params(params_path(args), config.overrides(args))
