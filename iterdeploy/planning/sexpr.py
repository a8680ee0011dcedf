"""S-expressions, the concrete syntax under PDDL.

Two parsers give the same tree. `parse_fast` builds plain lists and is what
reading normally uses: it matches whole innermost lists such as `(at r1 w3)` in
one regular-expression step, so a 1 MB problem costs one Python iteration per
atom, not per token. It returns None on malformed text. `parse_located` builds
`SList`s that remember where they start, to report `file:line`; the reader
falls back to it whenever something is wrong.

Both read the text as VAL does: names are ASCII (a non-ASCII character outside a
comment is an error, so str.lower() cannot fold the Kelvin sign into 'k'), a
line ends at \n, \r\n or a lone \r, a leading byte-order mark is ignored, and
lists nest at most MAX_DEPTH deep.
"""

from __future__ import annotations

import re
from pathlib import Path

from iterdeploy.errors import PDDLError
from iterdeploy.planning.text import excerpt, strip_bom

MAX_DEPTH = 512
"""Deepest nesting of lists read. PDDL of the supported fragment nests about 8 deep; the limit keeps
pathological input (a goal of 10^5 nested `and`s) cheap to refuse, and out of reach of any
recursion limit downstream."""

# Comments run from ';' to the end of the line; PDDL is case-insensitive.
_COMMENT = re.compile(r";[^\n]*")
_FAST = re.compile(r"\(([^()]*)\)|([()])|([^\s()]+)")
_TOKEN = re.compile(r";[^\n]*|([()])|([^\s();]+)", re.ASCII)
# Python's \s and str.split() also separate at these; VAL reads them as part of a name.
_ODD_SPACE = ("\x1c", "\x1d", "\x1e", "\x1f")


def normalize(text: str) -> str:
    """Without a leading byte-order mark, and with \r\n and lone \r (old Mac files) as \n."""
    text = strip_bom(text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class SList(list):
    """A parenthesised list that remembers the offset of its '(' in the source."""

    __slots__ = ("pos",)

    def __init__(self, pos: int):
        super().__init__()
        self.pos = pos


class Source:
    """Text plus its file name, to turn offsets into `file:line` errors."""

    def __init__(self, text: str, path: str | Path):
        self.text = normalize(text)
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
    code = _COMMENT.sub("", normalize(text))
    if not code.isascii() or any(c in code for c in _ODD_SPACE):
        return None
    for body, paren, atom in _FAST.findall(code.lower()):
        if paren == "(":
            new: list = []
            if cur is not None:
                if len(stack) >= MAX_DEPTH - 2:  # this list and an innermost one in it would be too deep
                    return None
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


def _odd_character(atom: str) -> str | None:
    """U+XXXX of the first character of `atom` that the fast parser would not read as VAL does."""
    if atom.isascii() and not any(c in atom for c in _ODD_SPACE):
        return None
    c = next(c for c in atom if not c.isascii() or c in _ODD_SPACE)
    return f"U+{ord(c):04X}"


def parse_located(source: Source) -> SList:
    """Parse exactly one top-level list into `SList`s; raise a PDDLError with the line if malformed."""
    stack: list[SList] = []
    top: SList | None = None
    closed = 0
    for m in _TOKEN.finditer(source.text):
        paren, atom = m.group(1), m.group(2)
        if paren == "(":
            node = SList(m.start())
            if len(stack) >= MAX_DEPTH:
                raise PDDLError(f"lists nested more than {MAX_DEPTH} deep", source.path, source.line_of(m.start()))
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
            odd = _odd_character(atom)
            if odd is not None:
                raise PDDLError(f"character {odd} in {excerpt(atom)}: PDDL names are ASCII letters, digits, "
                                "'-' and '_'", source.path, source.line_of(m.start()))
            if not stack:
                raise PDDLError(f"unexpected {excerpt(atom)} outside parentheses", source.path,
                                source.line_of(m.start()))
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
