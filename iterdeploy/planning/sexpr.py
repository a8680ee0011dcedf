"""S-expressions, the concrete syntax under PDDL.

Two parsers give the same tree. `parse_fast` builds plain lists and is what
reading normally uses: it matches whole innermost lists such as `(at r1 w3)` in
one regular-expression step, so a 1 MB problem costs one Python iteration per
atom, not per token. It returns None on malformed text. `parse_located` builds
`SList`s that remember where they start, to report `file:line`; the reader
falls back to it whenever something is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from iterdeploy.errors import PDDLError

# Comments run from ';' to the end of the line; PDDL is case-insensitive.
_COMMENT = re.compile(r";[^\n]*")
_FAST = re.compile(r"\(([^()]*)\)|([()])|([^\s()]+)")
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


def parse_fast(text: str) -> list | None:
    """Exactly one top-level list, atoms lower-cased; None if the text is not that."""
    stack: list[list] = []
    cur: list | None = None
    top: list | None = None
    for body, paren, atom in _FAST.findall(_COMMENT.sub("", text).lower()):
        if paren == "(":
            new: list = []
            if cur is not None:
                cur.append(new)
                stack.append(cur)
            elif top is not None:
                return None
            else:
                top = new
            cur = new
        elif cur is None:
            return None
        elif paren:
            cur = stack.pop() if stack else None
        elif atom:
            cur.append(atom)
        else:
            cur.append(body.split())
    return top if cur is None else None


def parse_located(source: Source) -> SList:
    """Parse exactly one top-level list into `SList`s; raise a PDDLError with the line if malformed."""
    stack: list[SList] = []
    top: SList | None = None
    closed = 0
    for m in _TOKEN.finditer(source.text):
        paren, atom = m.group(1), m.group(2)
        if paren == "(":
            node = SList(m.start())
            if stack:
                stack[-1].append(node)
            elif top is not None:
                raise PDDLError(
                    f"this ')' closes the definition, but more follows on line {source.line_of(m.start())}"
                    " (an extra ')'?)", source.path, source.line_of(closed))
            else:
                top = node
            stack.append(node)
        elif paren == ")":
            if not stack:
                raise PDDLError("unbalanced ')'", source.path, source.line_of(m.start()))
            stack.pop()
            closed = m.start()
        elif atom is not None:
            if not stack:
                raise PDDLError(f"unexpected {atom!r} outside parentheses", source.path, source.line_of(m.start()))
            if atom[0] == ":" and not stack[-1] and len(stack) >= 3:
                # Sections such as (:action ...) sit directly under (define ...): one nested
                # deeper means the section before it lacks its ')'.
                raise PDDLError(
                    f"missing ')': the list opened here is still open where ({atom} starts, on line "
                    f"{source.line_of(m.start())}", source.path, source.line_of(stack[-2].pos))
            stack[-1].append(atom.lower())
    if stack:
        raise PDDLError("missing ')': the list opened here is never closed", source.path, source.line_of(stack[-1].pos))
    if top is None:
        raise PDDLError("empty file: no PDDL definition found", source.path)
    return top
