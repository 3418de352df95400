"""The hashes Keras applies to the decimal string of each int64 value (tf.as_string): FarmHash
Fingerprint64 (farmhashna::Hash64, tf.strings.to_hash_bucket_fast) and, with a salt, keyed
SipHash-2-4 (tf.strings.to_hash_bucket_strong). Each is written once over a small arithmetic
backend, so NumPy and the exported ONNX graph run the same uint64 steps, bit for bit.

Hand-written because no library computes them in an ONNX graph. Decimal strings of int64 are
1 to 20 bytes, so only Hash64's HashLen0to16 and HashLen17to32 branches are needed (every
branch is computed and the one for each value's length selected), and SipHash has at most two
full 8-byte blocks. Checked against Guava's, SipHash's and Keras' published values in
tests/ops/test_categorical_layers.py.
"""

from __future__ import annotations

import numpy as np

K0 = 0xC3A5C85C97CB3127
K1 = 0xB492B66FBE98F273
K2 = 0x9AE16A3B2F90404F
WIDTH = 24  # bytes per value: 20 at most, zero-padded so every 8-byte fetch is in range
U64, I64 = np.uint64, np.int64


class NumpyOps:
    """uint64 arithmetic wraps modulo 2**64 in NumPy arrays, as in C."""

    def c(self, v, dtype=U64):
        return np.asarray(v, dtype)

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a // b

    def mod(self, a, b):
        return a % b

    def xor(self, a, b):
        return a ^ b

    def shr(self, a, k):
        return a >> U64(k)

    def shl(self, a, k):
        return a << U64(k)

    def ge(self, a, b):
        return a >= b

    def lt(self, a, b):
        return a < b

    def eq(self, a, b):
        return a == b

    def and_(self, a, b):
        return a & b

    def where(self, c, a, b):
        return np.where(c, a, b)

    where_u = where

    def u64(self, a):
        return np.asarray(a).astype(U64)

    def i64(self, a):
        return np.asarray(a).astype(I64)

    def unsqueeze(self, a):
        return a[..., None]

    def gather_last(self, table, idx):
        """table[..., idx[...]] for per-element indices (int64), last axis."""
        return np.take_along_axis(table, idx[..., None], axis=-1)[..., 0]

    def take(self, table, idx):
        return np.asarray(table)[idx]

    def slice_last(self, a, start, stop):
        return a[..., start:stop]


class OnnxOps:
    """The same steps as ONNX nodes through the exporter's emitter (uint64 values; ONNX's
    integer Add/Mul wrap like C). XOR is BitwiseXor from opset 18; before, the bits are
    split with BitShift/Mod, xor-ed as booleans and summed back."""

    DT = {U64: 13, I64: 7}  # TensorProto.UINT64, INT64

    def __init__(self, em, rank: int):
        self.em = em
        self.rank = rank  # of the hashed values; onnx.reference mishandles axis=-1 here
        self.last = em.const(np.array([-1], I64), "last_axis")

    def _op(self, name, *xs, **kw):
        return self.em.op(name, list(xs), **kw)

    def c(self, v, dtype=U64):
        return self.em.const(np.asarray(v, dtype), "farmhash")

    def add(self, a, b):
        return self._op("Add", a, b)

    def sub(self, a, b):
        return self._op("Sub", a, b)

    def mul(self, a, b):
        return self._op("Mul", a, b)

    def div(self, a, b):
        return self._op("Div", a, b)

    def mod(self, a, b):
        return self._op("Mod", a, b)

    def xor(self, a, b):
        if self.em.opset >= 18:
            return self._op("BitwiseXor", a, b)
        k = self.c(np.arange(64, dtype=U64))

        def bits(v):
            shifted = self._op("BitShift", self.unsqueeze(v), k, direction="RIGHT")
            return self._op("Cast", self._op("Mod", shifted, self.c(2)), to=9)  # BOOL

        x = self._op("Cast", self._op("Xor", bits(a), bits(b)), to=13)
        v = self._op("BitShift", x, k, direction="LEFT")
        # Disjoint bits: their sum is their OR. Summed in halves with uint64 Add, because
        # onnxruntime's int64 ReduceSum loses low bits of large values.
        for half in (32, 16, 8, 4, 2, 1):
            v = self.add(self.slice_last(v, 0, half), self.slice_last(v, half, 2 * half))
        return self._op("Squeeze", v, self.last)

    def shr(self, a, k):
        return self._op("BitShift", a, self.c(k), direction="RIGHT")

    def shl(self, a, k):
        return self._op("BitShift", a, self.c(k), direction="LEFT")

    def ge(self, a, b):
        return self._op("GreaterOrEqual", a, b)

    def lt(self, a, b):
        return self._op("Less", a, b)

    def eq(self, a, b):
        return self._op("Equal", a, b)

    def and_(self, a, b):
        return self._op("And", a, b)

    def where(self, c, a, b):
        return self._op("Where", c, a, b)

    def where_u(self, c, a, b):
        # onnxruntime has no uint64 Where; int64 <-> uint64 casts keep the bits.
        return self.u64(self.where(c, self.i64(a), self.i64(b)))

    def u64(self, a):
        return self._op("Cast", a, to=13)

    def i64(self, a):
        return self._op("Cast", a, to=7)

    def unsqueeze(self, a):
        return self._op("Unsqueeze", a, self.last)

    def gather_last(self, table, idx):
        got = self._op("GatherElements", table, self.unsqueeze(idx), axis=self.rank)
        return self._op("Squeeze", got, self.last)

    def take(self, table, idx):
        return self._op("Gather", self.em.const(np.asarray(table), "powers_of_ten"), idx,
                        axis=0)

    def slice_last(self, a, start, stop):
        return self._op("Slice", a, self.em.const(np.array([start], I64), "start"),
                        self.em.const(np.array([stop], I64), "stop"), self.last)


def _rot(B, v, s: int):
    # Right rotation; the two shifted parts have disjoint bits, so + is their OR.
    return B.add(B.shr(v, s), B.shl(v, 64 - s))


def _shift_mix(B, v):
    return B.xor(v, B.shr(v, 47))


def _hash16(B, u, v, mul):
    a = B.mul(B.xor(u, v), mul)
    a = _shift_mix(B, a)
    b = B.mul(B.xor(v, a), mul)
    return B.mul(_shift_mix(B, b), mul)


def decimal_bytes(B, x):
    """(bytes (..., WIDTH) uint64, length (...) int64) of each int64 value's decimal string."""
    neg = B.lt(x, B.c(0, I64))
    xu = B.u64(x)
    mag = B.where_u(neg, B.sub(B.c(0), xu), xu)  # two's complement: |INT64_MIN| fits uint64
    pow10 = [10 ** k for k in range(20)]
    ndig = B.c(1, I64)
    for k in range(1, 20):
        ndig = B.add(ndig, B.i64(B.ge(mag, B.c(pow10[k]))))
    length = B.add(ndig, B.i64(neg))
    pos = B.c(np.arange(WIDTH), I64)
    k = B.sub(B.sub(B.unsqueeze(length), B.c(1, I64)), pos)  # digit order of each position
    valid = B.and_(B.ge(k, B.c(0, I64)), B.ge(pos, B.unsqueeze(B.i64(neg))))
    kk = B.where(valid, k, B.c(0, I64))
    digit = B.mod(B.div(B.unsqueeze(mag), B.take(np.array(pow10, U64), kk)), B.c(10))
    minus = B.and_(B.unsqueeze(neg), B.eq(pos, B.c(0, I64)))
    byte = B.where_u(valid, B.add(digit, B.c(48)), B.where_u(minus, B.c(45), B.c(0)))
    return byte, length


def _words(B, byte, n: int):
    """Little-endian n-byte words starting at every position 0..WIDTH-8 (..., WIDTH-7)."""
    stop = WIDTH - 7
    w = None
    for i in range(n):
        part = B.shl(B.slice_last(byte, i, i + stop), 8 * i)
        w = part if w is None else B.add(w, part)
    return w


def fingerprint64(B, x):
    """Fingerprint64 of str(x) for int64 x: uint64, elementwise."""
    byte, length = decimal_bytes(B, x)
    w64, w32 = _words(B, byte, 8), _words(B, byte, 4)
    lu = B.u64(length)

    def at(words, back):  # the word at offset len - back (clamped where the branch is unused)
        off = B.sub(length, B.c(back, I64))
        return B.gather_last(words, B.where(B.ge(off, B.c(0, I64)), off, B.c(0, I64)))

    def first(words, off):
        return B.gather_last(words, B.add(B.mul(length, B.c(0, I64)), B.c(off, I64)))

    mul = B.add(B.c(K2), B.mul(lu, B.c(2)))
    # HashLen0to16, len >= 8
    a = B.add(first(w64, 0), B.c(K2))
    b = at(w64, 8)
    c = B.add(B.mul(_rot(B, b, 37), mul), a)
    d = B.mul(B.add(_rot(B, a, 25), b), mul)
    h8 = _hash16(B, c, d, mul)
    # len 4..7
    a4 = first(w32, 0)
    h4 = _hash16(B, B.add(lu, B.shl(a4, 3)), at(w32, 4), mul)
    # len 1..3: bytes s[0], s[len >> 1], s[len - 1]
    b0 = B.gather_last(byte, B.mul(length, B.c(0, I64)))
    b1 = B.gather_last(byte, B.div(length, B.c(2, I64)))
    b2 = B.gather_last(byte, B.sub(length, B.c(1, I64)))
    y = B.add(b0, B.shl(b1, 8))
    z = B.add(lu, B.shl(b2, 2))
    h1 = B.mul(_shift_mix(B, B.xor(B.mul(y, B.c(K2)), B.mul(z, B.c(K0)))), B.c(K2))
    # HashLen17to32
    a = B.mul(first(w64, 0), B.c(K1))
    b = first(w64, 8)
    c = B.mul(at(w64, 8), mul)
    d = B.mul(at(w64, 16), B.c(K2))
    h17 = _hash16(B, B.add(B.add(_rot(B, B.add(a, b), 43), _rot(B, c, 30)), d),
                  B.add(B.add(a, _rot(B, B.add(b, B.c(K2)), 18)), c), mul)
    h = B.where_u(B.ge(length, B.c(17, I64)), h17, h8)
    h = B.where_u(B.lt(length, B.c(8, I64)), h4, h)
    return B.where_u(B.lt(length, B.c(4, I64)), h1, h)


def _rotl(B, v, s: int):
    return _rot(B, v, 64 - s)


def _sip_round(B, v0, v1, v2, v3):
    v0 = B.add(v0, v1)
    v1 = B.xor(_rotl(B, v1, 13), v0)
    v0 = _rotl(B, v0, 32)
    v2 = B.add(v2, v3)
    v3 = B.xor(_rotl(B, v3, 16), v2)
    v0 = B.add(v0, v3)
    v3 = B.xor(_rotl(B, v3, 21), v0)
    v2 = B.add(v2, v1)
    v1 = B.xor(_rotl(B, v1, 17), v2)
    return v0, v1, _rotl(B, v2, 32), v3


def _sip_block(B, v, m, rounds: int):
    v0, v1, v2, v3 = v
    v3 = B.xor(v3, m)
    for _ in range(rounds):
        v0, v1, v2, v3 = _sip_round(B, v0, v1, v2, v3)
    return B.xor(v0, m), v1, v2, v3


def siphash(B, x, key: tuple[int, int]):
    """SipHash-2-4 of str(x) for int64 x under the 128-bit key (k0, k1): uint64."""
    byte, length = decimal_bytes(B, x)
    w64 = _words(B, byte, 8)
    k0, k1 = (int(k) % 2 ** 64 for k in key)
    v = tuple(B.add(B.mul(B.u64(length), B.c(0)), B.c(c)) for c in (
        k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
        k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573))
    for off in (0, 8):  # the full 8-byte blocks: one from 8 bytes on, two from 16
        word = B.gather_last(w64, B.add(B.mul(length, B.c(0, I64)), B.c(off, I64)))
        done = _sip_block(B, v, word, 2)
        full = B.ge(length, B.c(off + 8, I64))
        v = tuple(B.where_u(full, a, b) for a, b in zip(done, v))
    # The last block: the remaining bytes (the buffer is zero past the string) and the length.
    tail = B.gather_last(w64, B.mul(B.div(length, B.c(8, I64)), B.c(8, I64)))
    last = B.add(tail, B.shl(B.u64(length), 56))
    v0, v1, v2, v3 = _sip_block(B, v, last, 2)
    v2 = B.xor(v2, B.c(0xFF))
    for _ in range(4):
        v0, v1, v2, v3 = _sip_round(B, v0, v1, v2, v3)
    return B.xor(B.xor(v0, v1), B.xor(v2, v3))


def _hash(B, x, salt):
    return fingerprint64(B, x) if salt is None else siphash(B, x, salt)


def hash_bins(x: np.ndarray, bins: int, salt: tuple[int, int] | None = None) -> np.ndarray:
    """tf.strings.to_hash_bucket_fast(tf.as_string(x), bins) for int64 x, or with a salt
    tf.strings.to_hash_bucket_strong(..., key=salt), as int64."""
    return (_hash(NumpyOps(), np.asarray(x, I64), salt) % U64(bins)).astype(I64)


def lower_hash_bins(em, x: str, rank: int, bins: int,
                    salt: tuple[int, int] | None = None) -> str:
    """The same in ONNX, for an int64 value `x` of this rank: an int64 value."""
    B = OnnxOps(em, rank)
    return B.i64(B.mod(_hash(B, x, salt), B.c(bins)))
