"""Prompt formats: what a model is conditioned on, what it is trained to write, and how its text becomes a plan.

`compact` (compact.py) is for the embedded word-level model; `pddl-chat` (chat.py) for
instruction-tuned chat models. Both follow `PromptFormat`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from iterdeploy.errors import ConfigError
from iterdeploy.planning import ParsedPlan, Task
from iterdeploy.prompts.chat import PddlChatFormat, pddl_text, render_domain, render_problem
from iterdeploy.prompts.compact import CompactFormat

FORMATS = ("compact", "pddl-chat")


@runtime_checkable
class PromptFormat(Protocol):
    name: str

    def prompt(self, task: Task, seed: int) -> str:
        """The text the model is conditioned on."""

    def completion(self, task: Task, plan_steps: list[str], seed: int) -> str:
        """The training target for a plan given as '(action arg ...)' strings in the task's real names."""

    def plan_from_completion(self, task: Task, completion: str, seed: int) -> ParsedPlan:
        """The plan a completion states, in the task's real names; `errors` says why a completion is no plan."""


def get_format(name: str, tokenizer=None, enable_thinking: bool | None = None) -> PromptFormat:
    """'compact' (vocabulary checked against `tokenizer` when given) or 'pddl-chat' (needs the tokenizer;
    `enable_thinking` goes to its chat template when not None)."""
    if name == "compact":
        if enable_thinking is not None:
            raise ConfigError("enable_thinking: only the pddl-chat format has a chat template to pass it to")
        return CompactFormat.for_tokenizer(tokenizer) if tokenizer is not None else CompactFormat()
    if name == "pddl-chat":
        return PddlChatFormat(tokenizer, enable_thinking=enable_thinking)
    raise ConfigError(f"unknown prompt format {name!r}; expected one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "CompactFormat", "PddlChatFormat", "PromptFormat", "get_format", "pddl_text",
           "render_domain", "render_problem"]
