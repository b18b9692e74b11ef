"""Exact and near-duplicate removal for passages.

Exact: the same text after lower-casing and collapsing whitespace. Near: MinHash over
word 5-shingles (64 hashes, 16 LSH bands of 4) proposes pairs; a pair whose estimated
Jaccard similarity reaches the threshold drops the later passage. Hashes are blake2b,
not Python's `hash()`, so the result is the same in every process.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

NUM_HASHES = 64
BANDS = 16
SHINGLE = 5
_PRIME = np.uint64((1 << 61) - 1)
_WORD = re.compile(r"\w+")


@dataclass
class DedupeResult:
    keep: list[int]
    exact: int
    near: int


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _shingle_hashes(text: str) -> np.ndarray:
    words = _WORD.findall(text.lower())
    grams = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    raw = [
        int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") for g in grams
    ]
    return np.array(raw, dtype=np.uint64) % _PRIME


def _permutations(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, (1 << 61) - 1, size=NUM_HASHES, dtype=np.uint64)
    b = rng.integers(0, (1 << 61) - 1, size=NUM_HASHES, dtype=np.uint64)
    return a, b


def minhash(text: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x = _shingle_hashes(text)
    # (a*x + b) mod p, computed in uint64 with wrap-around: still a fixed random
    # permutation-like map per hash, which is all MinHash needs.
    mixed = (x[:, None] * a[None, :] + b[None, :]) % _PRIME
    return mixed.min(axis=0)


def dedupe(texts: list[str], threshold: float = 0.8, seed: int = 0) -> DedupeResult:
    seen: set[str] = set()
    survivors: list[int] = []
    exact = 0
    for i, text in enumerate(texts):
        key = hashlib.sha256(_normal(text).encode()).hexdigest()
        if key in seen:
            exact += 1
            continue
        seen.add(key)
        survivors.append(i)

    a, b = _permutations(seed)
    signatures = {i: minhash(texts[i], a, b) for i in survivors}
    rows = NUM_HASHES // BANDS
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    dropped: set[int] = set()
    for i in survivors:
        sig = signatures[i]
        candidates: set[int] = set()
        for band in range(BANDS):
            key = (band, sig[band * rows : (band + 1) * rows].tobytes())
            candidates.update(buckets[key])
            buckets[key].append(i)
        for j in sorted(candidates):
            if j not in dropped and float(np.mean(signatures[j] == sig)) >= threshold:
                dropped.add(i)
                break
    keep = [i for i in survivors if i not in dropped]
    return DedupeResult(keep=keep, exact=exact, near=len(dropped))
