"""Open-addressing hash index for the numba kernels: (key_a, key_b) -> slot of a pool.

The index stores only slot numbers (int32, -1 = empty); the keys live in the pool's own arrays,
so the book's order table and level table share this code. Linear probing with backward-shift
deletion (Knuth's Algorithm R) keeps lookups short without tombstones, which matters because
orders are deleted as often as they are added. The table is kept at most half full by its owner.
"""
from __future__ import annotations

import numpy as np

from .jit import kernel, kernel_inline

EMPTY = -1

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@kernel_inline
def mix(a: np.uint64, b: np.uint64) -> np.uint64:
    """splitmix64 finaliser over both key parts: well spread even for sequential order ids."""
    z = a ^ (b * _M1)
    z = (z ^ (z >> _S30)) * _M2
    z = (z ^ (z >> _S27)) * _M3
    return z ^ (z >> _S31)


@kernel
def find(table: np.ndarray, key_a: np.ndarray, key_b: np.ndarray, a: np.uint64, b: np.uint64) -> int:
    """Position in `table` holding the slot whose keys are (a, b), or -1."""
    mask = np.uint64(table.shape[0] - 1)
    pos = np.int64(mix(a, b) & mask)
    while True:
        slot = table[pos]
        if slot == EMPTY:
            return -1
        if key_a[slot] == a and key_b[slot] == b:
            return pos
        pos = (pos + 1) & np.int64(mask)


@kernel
def insert(table: np.ndarray, key_a: np.ndarray, key_b: np.ndarray, slot: int) -> None:
    """Index `slot` (its keys already written to key_a/key_b). The key must not be present."""
    mask = np.uint64(table.shape[0] - 1)
    pos = np.int64(mix(key_a[slot], key_b[slot]) & mask)
    while table[pos] != EMPTY:
        pos = (pos + 1) & np.int64(mask)
    table[pos] = slot


@kernel
def remove_at(table: np.ndarray, key_a: np.ndarray, key_b: np.ndarray, pos: int) -> None:
    """Empty `pos` and shift later entries of the probe run back so every key stays findable."""
    mask = np.int64(table.shape[0] - 1)
    hole = pos
    j = pos
    while True:
        j = (j + 1) & mask
        slot = table[j]
        if slot == EMPTY:
            break
        home = np.int64(mix(key_a[slot], key_b[slot]) & np.uint64(mask))
        # the entry at j may move into the hole unless its home lies cyclically in (hole, j]
        if hole <= j:
            stays = hole < home <= j
        else:
            stays = home > hole or home <= j
        if not stays:
            table[hole] = slot
            hole = j
    table[hole] = EMPTY


@kernel
def rebuild(table: np.ndarray, key_a: np.ndarray, key_b: np.ndarray, used: np.ndarray) -> None:
    """Re-index every slot s with used[s] into an empty `table` (after the table grew)."""
    table[:] = EMPTY
    for slot in range(used.shape[0]):
        if used[slot]:
            insert(table, key_a, key_b, slot)
