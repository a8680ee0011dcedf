"""The ten IPC 2023 Learning Track domain files, shipped with the package.

Copied byte for byte (source comments included) from the IPC 2023 Learning Track
benchmarks, commit ae70e8e3 of ipc2023-learning/benchmarks, so that generated
task sets never depend on a benchmark checkout at run time.
"""

from __future__ import annotations

from pathlib import Path

from iterdeploy.errors import ConfigError

_HERE = Path(__file__).resolve().parent

DOMAINS: tuple[str, ...] = tuple(sorted(p.stem for p in _HERE.glob("*.pddl")))
"""Names of the packaged domains, sorted."""


def domain_path(name: str) -> Path:
    """Path of the packaged domain file for `name` (e.g. 'blocksworld')."""
    if name not in DOMAINS:
        raise ConfigError(f"unknown domain {name!r}; packaged domains: {', '.join(DOMAINS)}")
    return _HERE / f"{name}.pddl"


def domain_text(name: str) -> str:
    return domain_path(name).read_text(encoding="utf-8")
