"""Seeds derived from labels: stable across platforms, processes and Python's hash randomisation."""

from __future__ import annotations

import hashlib
from typing import Any


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any labels, e.g. derive_seed(sampling.seed, "samples", generation)."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big") >> 1
