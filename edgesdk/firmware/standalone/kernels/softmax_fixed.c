/* SOFTMAX, int8 -> int8, integer only: TFLite Micro's int8 kernel (reference_ops::Softmax with
 * gemmlowp fixed point), bit for bit. input_multiplier / input_left_shift / diff_min are
 * PreprocessSoftmaxScaling and CalculateInputRadius (5 integer bits), computed by the generator;
 * the output is TFLite's fixed int8 softmax quantization (scale 1/256, zero point -128). */
typedef struct {
  int32_t rows, depth, input_multiplier, input_left_shift, diff_min;
} es_softmax_fixed_params;

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating shift */
ES_INLINE int32_t es_sat_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31 */
ES_INLINE int32_t es_exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668;    /* exp(-1/8) */
  const int32_t constant_1_over_3 = 715827883; /* 1/3 */
  const int32_t x = a + (1 << 28);             /* a + 1/8 */
  const int32_t x2 = es_srdhm(x, x);
  const int32_t x3 = es_srdhm(x2, x);
  const int32_t x4 = es_srdhm(x2, x2);
  const int32_t x4_over_4 = es_rdbpot(x4, 2);
  const int32_t poly = /* x^4/24 + x^3/6 + x^2/2 */
      es_rdbpot(es_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
  return constant_term + es_srdhm(constant_term, x + poly);
}

/* gemmlowp exp_on_negative_values: Q5.26 input <= 0 -> Q0.31 */
ES_FN int32_t es_exp_on_negative(int32_t a) {
  static const int32_t multipliers[7] = {
      1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t quarter = 1 << 24;
  const int32_t mod_minus_quarter = (a & (quarter - 1)) - quarter;
  int32_t result = es_exp_quarter(mod_minus_quarter * 32); /* Rescale<0>: exact, no overflow */
  const int32_t remainder = mod_minus_quarter - a;
  int k;
  for (k = 0; k < 7; ++k) /* exp(-2^(k-2)) for each set bit of the remainder */
    if (remainder & (1 << (24 + k))) result = es_srdhm(result, multipliers[k]);
  return a == 0 ? INT32_MAX : result;
}

/* TFLite GetReciprocal: 1 / x for a Q12.19 sum, as a Q0.31 scale and a shift */
ES_FN int32_t es_reciprocal(int32_t x, int32_t *num_bits_over_unit) {
  int headroom_plus_one = 0;
  int64_t sum;
  int32_t half_denominator, est, i;
  while (headroom_plus_one < 32 && !((uint32_t)x & (0x80000000u >> headroom_plus_one)))
    ++headroom_plus_one;
  *num_bits_over_unit = 12 - headroom_plus_one;
  /* one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson, Q2.29) */
  sum = (int64_t)(int32_t)(((uint32_t)x << headroom_plus_one) - 0x80000000u) + INT32_MAX;
  half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  est = 1515870810 + es_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 d */
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus = (1 << 29) - es_srdhm(half_denominator, est);
    est = est + es_sat_shl(es_srdhm(est, one_minus), 2);
  }
  return es_sat_shl(est, 1);
}

ES_FN void es_softmax_fixed(const es_softmax_fixed_params *p, const int8_t *in, int8_t *out) {
  int32_t r, j;
  for (r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
    int32_t max = -128, sum = 0, scale, bits, exponent;
    for (j = 0; j < p->depth; ++j)
      if (in[j] > max) max = in[j];
    for (j = 0; j < p->depth; ++j) {
      const int32_t diff = in[j] - max;
      if (diff >= p->diff_min)
        sum += es_rdbpot(
            es_exp_on_negative(es_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier)),
            12);
    }
    scale = es_reciprocal(sum, &bits);
    exponent = bits + 31 - 8;
    for (j = 0; j < p->depth; ++j) {
      const int32_t diff = in[j] - max;
      int32_t v = -128;
      if (diff >= p->diff_min && exponent < 32) { /* >= 32: the probability is < 0.5 LSB */
        const int32_t e = es_exp_on_negative(
            es_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier));
        v = es_rdbpot(es_srdhm(scale, e), (int)exponent) - 128;
      }
      out[j] = es_clamp(v, -128, 127);
    }
  }
}
