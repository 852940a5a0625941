"""TFLite's quantization arithmetic in Python, bit for bit: multipliers, activation ranges, LUTs."""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def tflite_round(x: float) -> int:
    """``std::round``: halves away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier`` (double): ``real`` -> (int32 multiplier, shift)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = tflite_round(q * (1 << 31))
    if fixed == (1 << 31):
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # TFLite clamps the same way
        return (1 << 31) - 1, 30
    return fixed, shift


def conv_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) as ``PopulateConvolutionQuantizationParams``:
    float32 scales widened to double, ``in * filter / out``."""
    mults, shifts = [], []
    for c in range(channels):
        f = filter_scales[c] if len(filter_scales) > 1 else filter_scales[0]
        m, s = quantize_multiplier(float(input_scale) * float(f) / float(output_scale))
        mults.append(m)
        shifts.append(s)
    return mults, shifts


def quantize_float(value: float, scale: float, zero_point: int) -> int:
    """``zero_point + round(f / scale)`` with the division in float32, as TFLite does."""
    return zero_point + tflite_round(float(np.float32(value) / np.float32(scale)))


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for int8 outputs."""
    lo, hi = INT8_MIN, INT8_MAX
    if activation == "RELU":
        lo = max(lo, quantize_float(0.0, scale, zero_point))
    elif activation == "RELU6":
        lo = max(lo, quantize_float(0.0, scale, zero_point))
        hi = min(hi, quantize_float(6.0, scale, zero_point))
    elif activation == "RELU_N1_TO_1":
        lo = max(lo, quantize_float(-1.0, scale, zero_point))
        hi = min(hi, quantize_float(1.0, scale, zero_point))
    return lo, hi


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    t = ab + nudge
    return t // (1 << 31) if t >= 0 else -((-t) // (1 << 31))


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT on an int32 value."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's double-rounding ``MultiplyByQuantizedMultiplier`` (a Python model of the C)."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    v = (x * (1 << left) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap like C
    return _rdbpot(_srdhm(v, multiplier), right)


def softmax_table(input_scale: float, beta: float) -> np.ndarray:
    """LiteRT's int8 softmax table (``PopulateSoftmaxLookupTable``): float32
    ``table[255 - v] = expf(-input_scale * beta * v)``, with glibc's expf as LiteRT uses it."""
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    libm.expf.restype = ctypes.c_float
    libm.expf.argtypes = [ctypes.c_float]
    scale = np.float32(-np.float32(input_scale) * np.float32(beta))
    table = np.zeros(256, dtype=np.float32)
    for v in range(256):
        table[255 - v] = np.float32(libm.expf(float(np.float32(scale * np.float32(v)))))
    return table


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Fold ``1 / count`` into a multiplier as the integer MEAN reference kernel does."""
    s = min(count.bit_length() - 1, 32, 31 + shift)
    return int((multiplier << s) // count), shift - s


SOFTMAX_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits of TFLite's int8 softmax


def softmax_fixed_params(input_scale: float, beta: float) -> tuple[int, int, int] | None:
    """TFLite Micro's int8 softmax parameters, as ``PreprocessSoftmaxScaling`` and
    ``CalculateInputRadius`` compute them in double: (input_multiplier, input_left_shift,
    diff_min); None where TFLite would refuse (``beta * input_scale`` below 2^-26)."""
    bits = SOFTMAX_DIFF_INTEGER_BITS
    # float32 beta and scale widened to double, as static_cast<double> does
    real = min(float(beta) * float(input_scale) * (1 << (31 - bits)), (1 << 31) - 1.0)
    if not real > 1.0:  # QuantizeMultiplierGreaterThanOne checks multiplier > 1
        return None
    multiplier, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        return None
    radius = math.floor(1.0 * ((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift))
    return multiplier, left_shift, int(-1.0 * radius)


_EXP_BARREL = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def _exp_quarter(a: int) -> int:
    """gemmlowp ``exp_on_interval_between_negative_one_quarter_and_0_excl`` (Q0.31)."""
    constant_term, one_third = 1895147668, 715827883  # exp(-1/8), 1/3
    x = a + (1 << 28)
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    poly = _rdbpot(_srdhm(_rdbpot(x4, 2) + x3, one_third) + x2, 1)
    return constant_term + _srdhm(constant_term, x + poly)


def exp_on_negative(a: int) -> int:
    """gemmlowp ``exp_on_negative_values``: Q5.26 ``a`` <= 0 -> Q0.31 (int32 arithmetic)."""
    quarter = 1 << 24
    mod_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_quarter(mod_minus_quarter * 32)
    remainder = mod_minus_quarter - a
    for k, multiplier in enumerate(_EXP_BARREL):
        if remainder & (1 << (24 + k)):
            result = _srdhm(result, multiplier)
    return (1 << 31) - 1 if a == 0 else result


def softmax_exp_table(multiplier: int, left_shift: int, diff_min: int) -> np.ndarray:
    """TFLite Micro's int8 softmax ``exp_on_negative_values(MultiplyByQuantizedMultiplier
    GreaterThanOne(diff, ...))`` for every int8 difference ``-k`` the kernel keeps
    (``diff >= diff_min``): int32 [min(256, 1 - diff_min)], index k = max - x."""
    size = min(256, 1 - diff_min)
    table = [exp_on_negative(_srdhm(-k * (1 << left_shift), multiplier)) for k in range(size)]
    return np.array(table, dtype=np.int32)
