"""A summary of a replica's (key, stamp) set for cheap anti-entropy.

Keys fall into BUCKETS buckets; each bucket's hash is the XOR of a 64-bit hash of every
(key, stamp) in it, so a change updates it in constant time and the same set gives the same
hashes on every listener, whatever the order it arrived in. Two listeners first compare the
bucket hashes (2 KiB), then exchange full (key, stamp) lists only for buckets that differ.
"""
from __future__ import annotations

import hashlib
import zlib

BUCKETS = 256


def bucket_of(key: str) -> int:
    return zlib.crc32(key.encode()) % BUCKETS


def _entry_hash(key: str, stamp) -> int:
    text = f"{key}\0{stamp.physical_ms}\0{stamp.logical}\0{stamp.origin}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class DigestIndex:
    def __init__(self):
        self.hashes = [0] * BUCKETS
        self.keys = [set() for _bucket in range(BUCKETS)]
        self.tombstones = set()  # keys whose record is a delete: few, and asked for often

    def update(self, key: str, old, new) -> None:
        """Record that `key` went from record `old` to record `new` (either may be None)."""
        bucket = bucket_of(key)
        if old is not None:
            self.hashes[bucket] ^= _entry_hash(key, old.stamp)
            self.keys[bucket].discard(key)
            self.tombstones.discard(key)
        if new is not None:
            self.hashes[bucket] ^= _entry_hash(key, new.stamp)
            self.keys[bucket].add(key)
            if new.deleted:
                self.tombstones.add(key)

    def differing(self, theirs) -> list:
        """Buckets whose hash differs from `theirs` (a list of BUCKETS hashes)."""
        if len(theirs) != BUCKETS:
            return list(range(BUCKETS))
        return [b for b in range(BUCKETS) if self.hashes[b] != theirs[b]]

    def keys_in(self, buckets) -> list:
        return [k for b in buckets for k in self.keys[b]]
