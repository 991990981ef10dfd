#!/usr/bin/env python3
"""Writes a few well-formed inputs into fuzz/corpus/<target>/ as starting
points (the corpus directories are not committed). Layouts as documented in
src/wire/frame.rs, src/wire/message.rs, src/core/block.rs and src/core/tx.rs:
bincode, fixed-width little-endian integers, u64 length prefixes."""

import hashlib
import os
import struct
import sys

MAGIC = bytes([0xF9, 0xBE, 0x5C, 0x01])


def sha256d(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def string(s):
    return u64(len(s)) + s


def txin(txid, vout):
    return txid + u32(vout) + bytes(64) + bytes([4]) + bytes(64)


def tx(inputs, outputs, coinbase_height):
    b = u32(1) + u64(len(inputs)) + b"".join(inputs)
    b += u64(len(outputs)) + b"".join(u64(v) + bytes([7]) * 20 for v in outputs)
    return b + u64(coinbase_height)


def merkle(leaves):
    level = list(leaves)
    if not level:
        return bytes(32)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def block(height, txs, bits=0):
    root = merkle(sha256d(t) for t in txs)
    header = u32(1) + bytes(32) + root + u32(1_600_000_000) + u32(bits) + u32(0)
    return header + u64(height) + u64(len(txs)) + b"".join(txs)


def frame(command, payload):
    c = command.encode().ljust(12, b"\0")
    return MAGIC + c + u32(len(payload)) + sha256d(payload)[:4] + payload


coinbase = tx([txin(bytes(32), 0xFFFFFFFF)], [20], 3)
spend = tx([txin(bytes([1]) * 32, 0), txin(bytes([2]) * 32, 1)], [5, 6], 0)
blk = block(3, [coinbase, spend])
addr = string(b"127.0.0.1:8333")
h = bytes([0x33]) * 32

messages = {
    "version": u32(1) + u64(5) + addr + b"\x01" + h + u64(9),
    "getblocks": addr + u64(2) + h + h + bytes(32),
    "inv": addr + u32(0) + u64(1) + h,
    "getdata": addr + u32(1) + u64(2) + h + h,
    "block": addr + blk,
    "tx": addr + spend,
    "addr": u64(2) + addr + addr,
    "notfound": u32(1) + u64(1) + h,
    "ping": u64(7),
    "pong": u64(7),
}
commands = list(messages)

seeds = {
    "block": {"two_txs": blk, "coinbase_only": block(0, [coinbase[:-8] + u64(0)])},
    "transaction": {"coinbase": coinbase, "spend": spend},
    "message": {c: bytes([i]) + p for i, (c, p) in enumerate(messages.items())},
    "frame_decoder": {c: bytes([i * 7]) + frame(c, p) for i, (c, p) in enumerate(messages.items())},
}
seeds["frame_decoder"]["all"] = b"\x05" + b"".join(frame(c, p) for c, p in messages.items())

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
targets = sys.argv[1:] or list(seeds)
for target in targets:
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.get(target, {}).items():
        with open(os.path.join(d, "seed_" + name), "wb") as f:
            f.write(data)
