"""Near-duplicate queries: MinHash signatures over word shingles, indexed by LSH bands.

A text's shingles are its runs of ``shingle_size`` consecutive words (folded: case,
accents and punctuation do not count). Each shingle's SHAKE-128 output, read as
``num_perm`` 32-bit words, gives it one value per hash function (one hashlib call per
shingle instead of ``num_perm`` multiplications in Python: 4x faster). A signature keeps,
for each hash function, the least value over the shingles; the share of positions where
two signatures agree estimates the Jaccard similarity of the shingle sets. LSH splits a signature into bands
of rows: texts that agree on a whole band become candidates, so a lookup costs one dict
probe per band instead of a comparison with every stored text; candidates are then kept
only if their estimate reaches the threshold. The band layout is chosen for the
threshold so that pairs at or above it are almost never missed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata
from collections import defaultdict

Signature = tuple[int, ...]

DEFAULT_THRESHOLD = 0.8
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE_SIZE = 2
_WORD = re.compile(r"[^\W_]+")
_MISSED_PAIR_WEIGHT = 0.98
"""In choosing bands, a missed near-duplicate costs more than a candidate checked in vain."""


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))


def shingles(text: str, size: int = DEFAULT_SHINGLE_SIZE) -> set[str]:
    """Runs of ``size`` words; a shorter text is one shingle; no words, no shingles."""
    found = words(text)
    if len(found) <= size:
        return {" ".join(found)} if found else set()
    return {" ".join(found[i : i + size]) for i in range(len(found) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def estimate(a: Signature, b: Signature) -> float:
    """The MinHash estimate of the Jaccard similarity of two signatures' sets."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


@functools.lru_cache(maxsize=32)
def band_layout(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted
    chance of missing pairs above ``threshold`` and of candidates below it."""

    def candidate(s: float, bands: int, rows: int) -> float:
        return 1.0 - (1.0 - s**rows) ** bands

    steps = 100
    below = [threshold * (i + 0.5) / steps for i in range(steps)]
    above = [threshold + (1 - threshold) * (i + 0.5) / steps for i in range(steps)]
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_pos = sum(candidate(s, bands, rows) for s in below) * threshold / steps
            false_neg = sum(1 - candidate(s, bands, rows) for s in above) * (1 - threshold) / steps
            cost = (1 - _MISSED_PAIR_WEIGHT) * false_pos + _MISSED_PAIR_WEIGHT * false_neg
            if best is None or cost < best[0]:
                best = (cost, bands, rows)
    assert best is not None
    return best[1], best[2]


class MinHasher:
    """Signatures of texts; the same sizes always give the same signatures."""

    def __init__(
        self, num_perm: int = DEFAULT_NUM_PERM, shingle_size: int = DEFAULT_SHINGLE_SIZE
    ) -> None:
        if num_perm < 1 or shingle_size < 1:
            raise ValueError("num_perm and shingle_size must be at least 1")
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self._words = struct.Struct(f"<{num_perm}I")

    def signature(self, text: str) -> Signature | None:
        """None for a text without words (it is nobody's near-duplicate)."""
        rows = [
            self._words.unpack(hashlib.shake_128(s.encode()).digest(4 * self.num_perm))
            for s in shingles(text, self.shingle_size)
        ]
        return tuple(map(min, zip(*rows, strict=True))) if rows else None


class NearDuplicateIndex:
    """Texts by key; ``nearest`` finds a stored text at least ``threshold`` similar."""

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        num_perm: int = DEFAULT_NUM_PERM,
        shingle_size: int = DEFAULT_SHINGLE_SIZE,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.hasher = MinHasher(num_perm, shingle_size)
        self.bands, self.rows = band_layout(threshold, num_perm)
        self._tables: list[defaultdict[Signature, list[str]]] = [
            defaultdict(list) for _ in range(self.bands)
        ]
        # Stored signatures are packed into one int each, 32 bits per hash function, so
        # comparing two takes a few big-int operations instead of a loop over num_perm
        # values: with many similar texts, most lookups compare hundreds of candidates.
        self._words = struct.Struct(f"<{num_perm}I")
        self._low = int.from_bytes(b"\xff\xff\xff\x7f" * num_perm, "little")
        self._high = int.from_bytes(b"\x00\x00\x00\x80" * num_perm, "little")
        self._packed: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._packed)

    def _pack(self, signature: Signature) -> int:
        return int.from_bytes(self._words.pack(*signature), "little")

    def _agreement(self, a: int, b: int) -> float:
        """``estimate`` of two packed signatures: the share of 32-bit lanes that are equal.

        A lane of ``a ^ b`` is non-zero iff its low 31 bits carry into its top bit when
        added to 0x7fffffff, or its top bit is already set; counting those top bits counts
        the differing lanes (no carry crosses a lane: the sum stays below 2**32)."""
        diff = a ^ b
        differing = (((diff & self._low) + self._low) | diff) & self._high
        lanes = self.hasher.num_perm
        return (lanes - differing.bit_count()) / lanes

    def _bands(self, signature: Signature) -> list[Signature]:
        r = self.rows
        return [signature[i * r : (i + 1) * r] for i in range(self.bands)]

    def signature(self, text: str) -> Signature | None:
        return self.hasher.signature(text)

    def nearest(self, text: str | Signature | None) -> tuple[str, float] | None:
        """The most similar stored key at or above the threshold, with its estimate."""
        signature = self.signature(text) if isinstance(text, str) else text
        if signature is None:
            return None
        candidates: dict[str, None] = {}
        for table, band in zip(self._tables, self._bands(signature), strict=True):
            candidates.update(dict.fromkeys(table.get(band, ())))
        packed = self._pack(signature)
        best: tuple[str, float] | None = None
        for key in candidates:
            similarity = self._agreement(packed, self._packed[key])
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (key, similarity)
        return best

    def add(self, key: str, text: str | Signature | None) -> None:
        """Index ``key`` (a text or its signature); a key already there is kept as it was."""
        signature = self.signature(text) if isinstance(text, str) else text
        if signature is None or key in self._packed:
            return
        self._packed[key] = self._pack(signature)
        for table, band in zip(self._tables, self._bands(signature), strict=True):
            table[band].append(key)
