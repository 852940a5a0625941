#if defined(__GNUC__)
#define ES_FN static __attribute__((unused))
#define ES_INLINE static inline __attribute__((always_inline, unused))
#define ES_LEAF static __attribute__((noinline, unused)) /* hot loop: keep it in registers */
#else
#define ES_LEAF static
#define ES_FN static
#define ES_INLINE static
#endif
/* TFLite's integer requantization, bit-exact: SaturatingRoundingDoublingHighMul,
 * RoundingDivideByPOT and the double-rounding MultiplyByQuantizedMultiplier. */
ES_INLINE int32_t es_srdhm(int32_t a, int32_t b) {
  int64_t ab;
  int64_t t;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  t = ab + (ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30)));
  /* truncating division by 2^31, without a 64-bit division call */
  return (int32_t)(t >= 0 ? (t >> 31) : -((-t) >> 31));
}

ES_INLINE int32_t es_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1u << exponent) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

ES_INLINE int32_t es_requant(int32_t x, int32_t multiplier, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return es_rdbpot(es_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* The single-rounding form LiteRT's per-channel FULLY_CONNECTED reference path matches
 * (verified on every output of the tests): (x * m + 2^(30 - shift)) >> (31 - shift). */
ES_INLINE int32_t es_requant_single(int32_t x, int32_t multiplier, int32_t shift) {
  const int total = 31 - shift;
  return (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << (total - 1))) >> total);
}

ES_INLINE int8_t es_clamp(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}
