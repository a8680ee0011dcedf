"""The order in which the compact format lists a state's atoms: along their chains.

A small model reads a prompt best when every fact it needs next sits beside the fact it used
last. Binary predicates whose two arguments have the same type (blocksworld `on`, spanner
`link`) form chains; the objects are ranked by walking those chains, then the other objects by
type and generic number. Every atom hangs on its lowest-ranked argument, and the atoms are
listed object by object in rank order (the domain's predicate order within an object). So a
blocksworld tower is listed top-down (`clear a`, `on a b`, `on b c`, `on-table c`), the spanner
corridor from the shed to the gate with the spanners lying at each place beside it, and a ferry's
cars one by one. Goal chains are walked from their other end, so a goal tower is listed bottom-up,
the order it is built in. Ranks depend only on the state and the generic names, never on the real
names, so equal renamed states give equal texts.
"""

from __future__ import annotations

from typing import Callable, Iterable

Atom = tuple[str, ...]


def chain_predicates(domain) -> list[str]:
    """Binary predicates whose two arguments admit the same types, in the domain's order."""
    return [p for p, args in domain.predicates.items() if len(args) == 2 and set(args[0]) == set(args[1])]


def object_ranks(domain, atoms: Iterable[Atom], objects: Iterable[str], key: Callable[[str], tuple],
                 backwards: bool = False) -> dict[str, int]:
    """Rank of every object: first the chain objects in walking order, then the rest by `key`.

    `key` orders objects by their generic names (so the ranks ignore the real ones); `backwards`
    walks every chain from its end."""
    atoms = list(atoms)
    rank: dict[str, int] = {}
    for predicate in chain_predicates(domain):
        pairs = [(a[1], a[2]) for a in atoms if a[0] == predicate]
        if backwards:
            pairs = [(y, x) for x, y in pairs]
        following: dict[str, list[str]] = {}
        reached = set()
        for x, y in pairs:
            following.setdefault(x, []).append(y)
            reached.add(y)
        for successors in following.values():
            successors.sort(key=key)
        starts = sorted((x for x in following if x not in reached), key=key)
        starts += sorted((x for x in following if x in reached), key=key)  # cycles have no start
        for start in starts:
            here: str | None = start
            while here is not None and here not in rank:
                rank[here] = len(rank)
                here = next((y for y in following.get(here, ()) if y not in rank), None)
    for obj in sorted((o for o in objects if o not in rank), key=key):
        rank[obj] = len(rank)
    return rank


def ordered_atoms(domain, atoms: Iterable[Atom], rank: dict[str, int]) -> list[Atom]:
    """`atoms` by their lowest-ranked argument (atoms without arguments first), then by predicate (the
    domain's order), then by their arguments' ranks."""
    order = {p: i for i, p in enumerate(domain.predicates)}

    def sort_key(atom: Atom):
        ranks = [rank.get(a, len(rank)) for a in atom[1:]]
        return min(ranks, default=-1), order.get(atom[0], len(order)), ranks, atom

    return sorted(atoms, key=sort_key)
