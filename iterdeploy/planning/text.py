"""Text helpers shared by the PDDL and plan readers."""

from __future__ import annotations

BOM = "\ufeff"


def excerpt(text: str, limit: int = 60) -> str:
    """The start of `text` for an error message: quoted, unprintable characters escaped, at most
    `limit` characters between the quotes; '...' when cut. A name of 4 KB of NUL bytes, or terminal
    escape codes, must not reach the message as they are."""
    out, used = [], 0
    for c in text:
        e = c if c.isprintable() and c not in "'\\" else "\\'" if c == "'" else repr(c)[1:-1]
        if used + len(e) > limit:
            return "'" + "".join(out) + "'..."
        out.append(e)
        used += len(e)
    return "'" + "".join(out) + "'"


def strip_bom(text: str) -> str:
    """Without a leading UTF-8 byte-order mark, which editors on Windows write and readers ignore."""
    return text[1:] if text.startswith(BOM) else text
