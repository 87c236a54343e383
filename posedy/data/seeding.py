"""``np.random.default_rng([a, b, c])`` for small non-negative integers, without its overhead.

A training sample draws from ``np.random.default_rng([seed, epoch, index])``. Building that
generator (``SeedSequence`` hashing, ``PCG64`` seeding, ``Generator``) goes through a deep
stack of NumPy code; right after a JPEG decode has flushed the CPU caches it costs about
0.2 ms, more than any other step of a sample but the warp. ``SampleRng`` computes the same
PCG64 state with a few dozen Python integer operations (NumPy's ``SeedSequence`` algorithm,
whose output NumPy keeps stable across versions) and loads it into one reused generator.
The generator it returns is in exactly the state ``default_rng`` would give (tested for
many entropy lists); entropy it does not handle goes to ``default_rng`` itself.
"""

import threading

import numpy as np

_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
# NumPy's SeedSequence constants (numpy/random/bit_generator.pyx) and PCG64's multiplier.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_POOL_SIZE = 4
_PCG64_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def pcg64_seed_state(words):
    """PCG64's ``(state, inc)`` after seeding from ``SeedSequence(words)``.

    Args:
        words: entropy as 32-bit words (each int in ``[0, 2**32)``), at most ``_POOL_SIZE``.
    """
    hash_const = _INIT_A

    def hashmix(value):
        nonlocal hash_const
        value = (value ^ hash_const) & _M32
        hash_const = (hash_const * _MULT_A) & _M32
        value = (value * hash_const) & _M32
        return value ^ (value >> 16)

    def mix(x, y):
        result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _M32
        return result ^ (result >> 16)

    pool = [hashmix(words[i] if i < len(words) else 0) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    # generate_state(4, np.uint64): eight 32-bit words, little-endian pairs.
    hash_const = _INIT_B
    out = []
    for i in range(8):
        value = pool[i % _POOL_SIZE] ^ hash_const
        hash_const = (hash_const * _MULT_B) & _M32
        value = (value * hash_const) & _M32
        out.append(value ^ (value >> 16))
    seed = [out[2 * i] | (out[2 * i + 1] << 32) for i in range(4)]
    init_state, init_seq = (seed[0] << 64) | seed[1], (seed[2] << 64) | seed[3]
    # pcg_setseq_128_srandom_r: state = 0; inc = 2 * seq + 1; step; state += init; step.
    inc = ((init_seq << 1) | 1) & _M128
    state = (inc + init_state) & _M128
    state = (state * _PCG64_MULT + inc) & _M128
    return state, inc


class SampleRng(threading.local):
    """Hands out ``default_rng(entropy)``-equivalent generators, reusing one object per thread.

    Each call re-seeds and returns the same ``Generator`` of the calling thread, so use it
    before that thread's next call. Each thread that calls gets its own generator (this is a
    ``threading.local``), so one ``SampleRng`` can serve a dataset read from several threads;
    like any ``threading.local`` it does not pickle (``TopDownDataset`` makes a new one).
    """

    def __init__(self):
        self._bit_generator = np.random.PCG64(0)
        self._generator = np.random.Generator(self._bit_generator)

    def __call__(self, entropy) -> np.random.Generator:
        words = list(entropy)
        if len(words) > _POOL_SIZE or not all(type(w) is int and 0 <= w <= _M32 for w in words):
            return np.random.default_rng(words)
        state, inc = pcg64_seed_state(words)
        self._bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                                     "has_uint32": 0, "uinteger": 0}
        return self._generator
