/* SOFTMAX, int8 -> int8, integer only: TFLite Micro's int8 kernel (reference_ops::Softmax with
 * gemmlowp fixed point), bit for bit. Its exp_on_negative_values of each input difference
 * (max - x = k, 0..255) is a table computed by the generator with the same int32 arithmetic
 * (from PreprocessSoftmaxScaling / CalculateInputRadius); differences past the radius
 * (k >= table_size) count as 0. The output is TFLite's int8 softmax quantization (scale 1/256,
 * zero point -128). */
typedef struct {
  int32_t rows, depth, table_size;
  const int32_t *exp_table; /* Q0.31 */
} es_softmax_fixed_params;

/* gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating shift */
ES_INLINE int32_t es_sat_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << exponent);
}

/* TFLite GetReciprocal: 1 / x for a Q12.19 sum, as a Q0.31 scale and a shift */
ES_FN int32_t es_reciprocal(int32_t x, int32_t *num_bits_over_unit) {
  int headroom_plus_one = 0;
  int64_t sum;
  int32_t half_denominator, est, i;
  while (headroom_plus_one < 32 && !((uint32_t)x & (0x80000000u >> headroom_plus_one)))
    ++headroom_plus_one;
  *num_bits_over_unit = 12 - headroom_plus_one;
  /* one_over_one_plus_x_for_x_in_0_1 (Newton-Raphson, Q2.29), RoundingHalfSum first */
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
  const int32_t *table = p->exp_table;
  int32_t r, j;
  for (r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
    int32_t max = -128, sum = 0, scale, bits, exponent;
    for (j = 0; j < p->depth; ++j)
      if (in[j] > max) max = in[j];
    for (j = 0; j < p->depth; ++j) {
      const int32_t k = max - in[j];
      if (k < p->table_size) sum += es_rdbpot(table[k], 12); /* Rescale to Q12.19 */
    }
    scale = es_reciprocal(sum, &bits);
    exponent = bits + 31 - 8;
    for (j = 0; j < p->depth; ++j) {
      const int32_t k = max - in[j];
      int32_t v = -128;
      /* exponent >= 32 (a sum of exps >= 2^9): every probability is below 0.5 LSB (TFLite
       * Micro's RoundingDivideByPOT asserts there) */
      if (k < p->table_size && exponent < 32)
        v = es_rdbpot(es_srdhm(scale, table[k]), (int)exponent) - 128;
      out[j] = es_clamp(v, -128, 127);
    }
  }
}
