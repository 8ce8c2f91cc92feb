"""Fixed-point arithmetic of the TFLite int8 spec, in numpy, exactly as the C runtime does it.

A real multiplier M is stored as an int32 `multiplier` in [2^30, 2^31) and a `shift` so that
M ≈ multiplier · 2^(shift - 31). Applying it to an int32 accumulator is
`multiply_by_quantized_multiplier`: saturating left shift (shift > 0), the rounding doubling
high multiply, then a rounding right shift (shift < 0). The C twins are in
`runtime/edgeops_int8.h`; every function here works on int64 arrays holding int32 values.
"""

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_RIGHT_SHIFT = 31


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) for a non-negative real multiplier; 0 (or one too small to matter)
    becomes (0, 0), which maps every accumulator to 0."""
    if not real > 0 or not math.isfinite(real):
        return 0, 0
    fraction, exponent = math.frexp(real)  # real = fraction · 2^exponent, fraction in [0.5, 1)
    multiplier = round(fraction * 2**31)
    if multiplier == 2**31:
        multiplier //= 2
        exponent += 1
    if exponent < -MAX_RIGHT_SHIFT:
        return 0, 0
    if exponent > 30:
        raise ValueError(f"requantization multiplier {real} is too large for int32 arithmetic")
    return multiplier, exponent


def _truncating_divide(numerator: np.ndarray, divisor_log2: int) -> np.ndarray:
    """C's `/` by 2^k on int64: rounds toward zero."""
    return np.where(
        numerator >= 0, numerator >> divisor_log2, -((-numerator) >> divisor_log2)
    ).astype(np.int64)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The high 32 bits of 2·a·b, rounded to nearest (ties away from zero); the one overflow
    case (both INT32_MIN) saturates to INT32_MAX."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    product = a * b
    nudge = np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    result = _truncating_divide(product + nudge, 31)
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, result).astype(np.int64)


def rounding_divide_by_power_of_two(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """x / 2^exponent rounded to nearest, ties away from zero (arithmetic shift plus a
    correction from the remainder)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return np.asarray((x >> exponent) + (remainder > threshold), dtype=np.int64)


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """x · M for int32 accumulators x, with M given as (multiplier, shift)."""
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(np.asarray(x, dtype=np.int64) << left, INT32_MIN, INT32_MAX)
    high = saturating_rounding_doubling_high_mul(shifted, np.asarray(multiplier, np.int64))
    return rounding_divide_by_power_of_two(high, right)


def round_half_away(values: np.ndarray) -> np.ndarray:
    """C's `roundf`: to nearest, ties away from zero (numpy's `round` ties to even)."""
    rounded = np.round(values)
    truncated = np.trunc(values)
    tie = np.abs(values - truncated) == 0.5
    return np.where(tie, truncated + np.sign(values), rounded)


def c_divide(numerator: np.ndarray, divisor: int) -> np.ndarray:
    """C's integer `/` (rounds toward zero) for a positive divisor."""
    numerator = np.asarray(numerator, dtype=np.int64)
    return np.asarray(np.sign(numerator) * (np.abs(numerator) // divisor), dtype=np.int64)
