"""S-expressions with source positions, the concrete syntax under PDDL."""

from __future__ import annotations

import re
from pathlib import Path

from iterdeploy.errors import PDDLError

# Comments run from ';' to the end of the line; PDDL is case-insensitive.
_TOKEN = re.compile(r";[^\n]*|([()])|([^\s();]+)")


class SList(list):
    """A parenthesised list that remembers the offset of its '(' in the source."""

    __slots__ = ("pos",)

    def __init__(self, pos: int):
        super().__init__()
        self.pos = pos


class Source:
    """Text plus its file name, to turn offsets into `file:line` errors."""

    def __init__(self, text: str, path: str | Path):
        self.text = text
        self.path = str(path)

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def error(self, cause: str, node: object = None) -> PDDLError:
        line = self.line_of(node.pos) if isinstance(node, SList) else None
        return PDDLError(cause, self.path, line)


def parse_sexpr(source: Source) -> SList:
    """Parse exactly one top-level list; atoms are lower-cased strings."""
    stack: list[SList] = []
    top: SList | None = None
    for m in _TOKEN.finditer(source.text):
        paren, atom = m.group(1), m.group(2)
        if paren == "(":
            node = SList(m.start())
            if stack:
                stack[-1].append(node)
            elif top is not None:
                raise PDDLError("text after the end of the definition", source.path, source.line_of(m.start()))
            else:
                top = node
            stack.append(node)
        elif paren == ")":
            if not stack:
                raise PDDLError("unbalanced ')'", source.path, source.line_of(m.start()))
            stack.pop()
        elif atom is not None:
            if not stack:
                raise PDDLError(f"unexpected {atom!r} outside parentheses", source.path, source.line_of(m.start()))
            stack[-1].append(atom.lower())
    if stack:
        raise PDDLError("missing ')': the list opened here is never closed", source.path, source.line_of(stack[-1].pos))
    if top is None:
        raise PDDLError("empty file: no PDDL definition found", source.path)
    return top
