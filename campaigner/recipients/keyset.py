"""Compact sets of recipient addresses: how duplicates are found in a few bytes per recipient.

Phone numbers are exact 52-bit keys (~7-8 bytes of RSS a number); LINE user keys are 60-bit BLAKE2b
digests (~9.5 bytes), so a false "duplicate" needs two LINE keys with the same digest: about
n**2 / 2**61, 1 in 2 million for a million LINE keys.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left

__all__ = ["KeySet", "line_key", "phone_key"]

_GOLDEN = 0x9E3779B97F4A7C15  # odd: multiplying by it modulo 2**bits is a bijection
_PHONE_LIMIT = 1 << 50  # E.164 numbers have at most 15 digits: below 10**15 < 2**50


def _digest(text: str, salt: bytes, bits: int) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8, salt=salt).digest()
    return int.from_bytes(digest) & ((1 << bits) - 1)


def phone_key(phone: str) -> int:
    """A phone number's 52-bit key: its digits as a number (exact), a 50-bit digest above 2**50 if longer."""
    number = int(phone)
    return number if number < _PHONE_LIMIT else _PHONE_LIMIT | _digest(phone, b"phone", 50)


def line_key(key: str) -> int:
    """A LINE user key's 60-bit key: a BLAKE2b digest."""
    return _digest(key, b"line", 60)


class KeySet:
    """A compact set of 52-bit (~5.9 bytes a key) or 60-bit (~7 bytes) keys; a Python ``set`` of
    phone strings costs ~90 bytes a key.

    A key is spread by a multiplicative hash (a bijection: no collisions added), then split into
    4096 buckets of two parallel arrays kept sorted: the next 32 bits (``array('I')``) and the last
    8 or 16 (``array('B')`` / ``array('H')``). The allocator's fragmentation adds ~2.5 bytes a key.
    """

    __slots__ = ("_high", "_low", "_low_bits", "_low_type", "_mask", "_multiplier", "_shift", "_size")

    def __init__(self, bits: int = 60) -> None:
        if bits not in (52, 60):
            raise ValueError("a KeySet holds 52-bit or 60-bit keys")
        self._mask = (1 << bits) - 1
        self._multiplier = _GOLDEN & self._mask
        self._shift = bits - 12
        self._low_bits = bits - 44
        self._low_type = "B" if bits == 52 else "H"
        self._high: list[array[int] | None] = [None] * 4096
        self._low: list[array[int] | None] = [None] * 4096
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: int) -> bool:
        mixed = (
            key * self._multiplier
        ) & self._mask  # spread, then bucket / next 32 bits / last bits (inline: once or twice a row)
        high = self._high[mixed >> self._shift]
        if high is None:
            return False
        low_bits = self._low_bits
        value, low_value = (mixed >> low_bits) & 0xFFFFFFFF, mixed & ((1 << low_bits) - 1)
        low = self._low[mixed >> self._shift]
        assert low is not None
        i = bisect_left(high, value)
        size = len(high)
        while i < size and high[i] == value:
            if low[i] == low_value:
                return True
            i += 1
        return False

    def add(self, key: int) -> bool:
        """Add ``key``; False when it was already there."""
        mixed = (key * self._multiplier) & self._mask  # as in __contains__
        index = mixed >> self._shift
        low_bits = self._low_bits
        value, low_value = (mixed >> low_bits) & 0xFFFFFFFF, mixed & ((1 << low_bits) - 1)
        high = self._high[index]
        if high is None:
            self._high[index] = array("I", (value,))
            self._low[index] = array(self._low_type, (low_value,))
            self._size += 1
            return True
        low = self._low[index]
        assert low is not None
        i = bisect_left(high, value)
        size = len(high)
        while i < size and high[i] == value:
            if low[i] == low_value:
                return False
            if low[i] > low_value:
                break
            i += 1
        high.insert(i, value)
        low.insert(i, low_value)
        self._size += 1
        return True
