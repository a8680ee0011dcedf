"""What every generator shares: the generated task, parameter checks, PDDL layout helpers."""

from __future__ import annotations

from dataclasses import dataclass, fields

from iterdeploy.errors import ConfigError


@dataclass(frozen=True)
class GeneratedTask:
    problem: str
    """The problem file, PDDL text."""
    plan: tuple[str, ...]
    """A valid reference plan, one action per item, e.g. '(pickup b1)'."""

    def plan_text(self) -> str:
        return format_plan(self.plan)


def format_plan(actions) -> str:
    """IPC plan file text: one action per line, then the cost comment."""
    actions = list(actions)
    return "".join(f"{a}\n" for a in actions) + f"; cost = {len(actions)} (unit cost)\n"


def check_int(domain: str, name: str, value, low: int, high: int) -> None:
    """Raise ConfigError unless `value` is an int in [low, high]; bool is not an int here."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{domain}: parameter {name!r} must be an integer in [{low}, {high}], got {value!r}")


def params_dict(params) -> dict[str, int]:
    return {f.name: getattr(params, f.name) for f in fields(params)}


def header(params) -> str:
    """IPC-style first line, e.g. ';; cars=2, locations=5'."""
    return ";; " + ", ".join(f"{k}={v}" for k, v in params_dict(params).items()) + "\n\n"


def object_block(groups: list[tuple[list[str], str]]) -> str:
    """An `(:objects ...)` section with one line per type, as the IPC files have it."""
    lines = "".join(f"    {' '.join(names)} - {type_}\n" for names, type_ in groups if names)
    return f" (:objects\n{lines} )\n"


def atoms_block(atoms: list[str]) -> str:
    return "".join(f"    {a}\n" for a in atoms)


def problem_text(domain: str, name: str, params, objects: list[tuple[list[str], str]],
                 init: list[str], goal: list[str]) -> str:
    return (
        header(params)
        + f"(define (problem {name})\n"
        + f" (:domain {domain})\n"
        + object_block(objects)
        + " (:init\n" + atoms_block(init) + " )\n"
        + " (:goal (and\n" + atoms_block(goal) + " ))\n"
        + ")\n"
    )
