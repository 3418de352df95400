"""Scalar oracles in Python integers, written for the tests independently of seqc's
vectorized hashes (seqc/ops/_hashes.py covers only the 1-20 byte strings of decimal int64
values): an all-branch port of FarmHash's Fingerprint64 (farmhashna::Hash64, google/farmhash),
checked against Guava's published values (FarmHashFingerprint64Test), and SipHash-2-4, checked
against the SipHash paper's test vectors."""

from __future__ import annotations

M = (1 << 64) - 1
K0, K1, K2 = 0xC3A5C85C97CB3127, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F


def _f64(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 8], "little")


def _f32(s: bytes, i: int) -> int:
    return int.from_bytes(s[i:i + 4], "little")


def _rot(v: int, s: int) -> int:
    return v if s == 0 else ((v >> s) | (v << (64 - s))) & M


def _mix(v: int) -> int:
    return v ^ (v >> 47)


def _h16(u: int, v: int, mul: int) -> int:
    a = _mix(((u ^ v) * mul) & M)
    b = _mix(((v ^ a) * mul) & M)
    return (b * mul) & M


def _len0to16(s: bytes) -> int:
    n = len(s)
    mul = (K2 + n * 2) & M
    if n >= 8:
        a = (_f64(s, 0) + K2) & M
        b = _f64(s, n - 8)
        return _h16((_rot(b, 37) * mul + a) & M, ((_rot(a, 25) + b) * mul) & M, mul)
    if n >= 4:
        return _h16((n + (_f32(s, 0) << 3)) & M, _f32(s, n - 4), mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_mix(((y * K2) & M) ^ ((z * K0) & M)) * K2) & M
    return K2


def _len17to32(s: bytes) -> int:
    n = len(s)
    mul = (K2 + n * 2) & M
    a, b = (_f64(s, 0) * K1) & M, _f64(s, 8)
    c, d = (_f64(s, n - 8) * mul) & M, (_f64(s, n - 16) * K2) & M
    return _h16((_rot((a + b) & M, 43) + _rot(c, 30) + d) & M,
                (a + _rot((b + K2) & M, 18) + c) & M, mul)


def _len33to64(s: bytes) -> int:
    n = len(s)
    mul = (K2 + n * 2) & M
    a, b = (_f64(s, 0) * K2) & M, _f64(s, 8)
    c, d = (_f64(s, n - 8) * mul) & M, (_f64(s, n - 16) * K2) & M
    y = (_rot((a + b) & M, 43) + _rot(c, 30) + d) & M
    z = _h16(y, (a + _rot((b + K2) & M, 18) + c) & M, mul)
    e, f = (_f64(s, 16) * mul) & M, _f64(s, 24)
    g, h = ((y + _f64(s, n - 32)) * mul) & M, ((z + _f64(s, n - 24)) * mul) & M
    return _h16((_rot((e + f) & M, 43) + _rot(g, 30) + h) & M,
                (e + _rot((f + a) & M, 18) + g) & M, mul)


def _weak(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & M
    b = _rot((b + a + z) & M, 21)
    c = a
    a = (a + x + y) & M
    b = (b + _rot(a, 44)) & M
    return (a + z) & M, (b + c) & M


def fingerprint64(s: bytes) -> int:
    n = len(s)
    if n <= 16:
        return _len0to16(s)
    if n <= 32:
        return _len17to32(s)
    if n <= 64:
        return _len33to64(s)
    x = 81
    y = (81 * K1 + 113) & M
    z = (_mix((y * K2 + 113) & M) * K2) & M
    v, w = (0, 0), (0, 0)
    x = (x * K2 + _f64(s, 0)) & M
    end, p = ((n - 1) // 64) * 64, 0
    while True:
        x = (_rot((x + y + v[0] + _f64(s, p + 8)) & M, 37) * K1) & M
        y = (_rot((y + v[1] + _f64(s, p + 48)) & M, 42) * K1) & M
        x ^= w[1]
        y = (y + v[0] + _f64(s, p + 40)) & M
        z = (_rot((z + w[0]) & M, 33) * K1) & M
        v = _weak(s, p, (v[1] * K1) & M, (x + w[0]) & M)
        w = _weak(s, p + 32, (z + w[1]) & M, (y + _f64(s, p + 16)) & M)
        z, x = x, z
        p += 64
        if p == end:
            break
    mul = (K1 + ((z & 0xFF) << 1)) & M
    p = n - 64
    w = ((w[0] + ((n - 1) & 63)) & M, w[1])
    v = ((v[0] + w[0]) & M, v[1])
    w = ((w[0] + v[0]) & M, w[1])
    x = (_rot((x + y + v[0] + _f64(s, p + 8)) & M, 37) * mul) & M
    y = (_rot((y + v[1] + _f64(s, p + 48)) & M, 42) * mul) & M
    x ^= (w[1] * 9) & M
    y = (y + v[0] * 9 + _f64(s, p + 40)) & M
    z = (_rot((z + w[0]) & M, 33) * mul) & M
    v = _weak(s, p, (v[1] * mul) & M, (x + w[0]) & M)
    w = _weak(s, p + 32, (z + w[1]) & M, (y + _f64(s, p + 16)) & M)
    z, x = x, z
    return _h16((_h16(v[0], w[0], mul) + _mix(y) * K0 + z) & M,
                (_h16(v[1], w[1], mul) + x) & M, mul)


def _rotl(v: int, s: int) -> int:
    return ((v << s) | (v >> (64 - s))) & M


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & M
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & M
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & M
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & M
    v1 = _rotl(v1, 17) ^ v2
    return v0, v1, _rotl(v2, 32), v3


def siphash24(k0: int, k1: int, m: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein), any length, from the paper's description."""
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    n = len(m)
    blocks = [int.from_bytes(m[i:i + 8], "little") for i in range(0, n - n % 8, 8)]
    blocks.append(((n & 0xFF) << 56) | int.from_bytes(m[n - n % 8:], "little"))
    for w in blocks:
        v[3] ^= w
        v = list(_sip_round(*_sip_round(*v)))
        v[0] ^= w
    v[2] ^= 0xFF
    for _ in range(4):
        v = list(_sip_round(*v))
    return v[0] ^ v[1] ^ v[2] ^ v[3]
