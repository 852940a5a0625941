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
ES_INLINE int32_t es_srdhm64(int32_t a, int32_t b) {
  int64_t ab;
  int64_t t;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  t = ab + (ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30)));
  /* truncating division by 2^31, without a 64-bit division call */
  return (int32_t)(t >= 0 ? (t >> 31) : -((-t) >> 31));
}

/* floor((A * B + c) / 2^t), exactly, in 32-bit operations (ARMv6-M has no 32x32->64 multiply:
 * int64 products are __aeabi_lmul calls), c = chi * 2^32 + c. For A <= 2^31, B < 2^31,
 * c < 2^63, 1 <= t <= 63: the 16-bit halves' products each fit in 32 bits (ah * bl + al * bh
 * < 2^31 + 2^31), the sum P + c (< 2^62 + 2^63, no overflow) is assembled in hi:lo with
 * explicit carries, then shifted; the result is taken mod 2^32 as the int64 form's cast to
 * int32 does. */
ES_INLINE uint32_t es_mulshr(uint32_t A, uint32_t B, uint32_t chi, uint32_t c, int t) {
  const uint32_t al = A & 0xFFFFu, ah = A >> 16, bl = B & 0xFFFFu, bh = B >> 16;
  const uint32_t mid = ah * bl + al * bh;
  const uint32_t m16 = mid << 16;
  uint32_t lo = al * bl, hi = ah * bh + (mid >> 16) + chi;
  lo += m16;
  hi += lo < m16 ? 1u : 0u;
  lo += c;
  hi += lo < c ? 1u : 0u;
  if (t >= 32) return hi >> (t - 32);
  return (hi << (32 - t)) | (lo >> t);
}

/* SaturatingRoundingDoublingHighMul for b >= 0 (every quantized multiplier): with A = |a|,
 * a * b >= 0 rounds as floor((A b + 2^30) / 2^31), a * b < 0 as -floor((A b + 2^30 - 1) / 2^31)
 * (the reference's nudge 1 - 2^30 and truncating division); b < 0 takes the int64 form. */
ES_INLINE int32_t es_srdhm32(int32_t a, int32_t b) {
  const uint32_t neg = a < 0 ? 1u : 0u;
  uint32_t q;
  if (b < 0) return es_srdhm64(a, b);
  q = es_mulshr(neg ? 0u - (uint32_t)a : (uint32_t)a, (uint32_t)b, 0u, (1u << 30) - neg, 31);
  return (int32_t)(neg ? 0u - q : q);
}

#if defined(__thumb__) && !defined(__thumb2__)
/* ARMv6-M: es_srdhm32 in 28 Thumb-1 instructions, the carries through ADDS / ADCS (a
 * multiplier known to the compiler takes the C form, which it folds: ADD's 3 per element) */
ES_INLINE int32_t es_srdhm_v6m(int32_t a, int32_t b) {
  uint32_t s, al, ah, bl, bh;
  if (__builtin_constant_p(b) || b < 0) return es_srdhm32(a, b);
  __asm__(".syntax unified\n\t"
          "asrs %[s], %[a], #31\n\t" /* s = a < 0 ? -1 : 0 */
          "eors %[a], %[s]\n\t"
          "subs %[a], %[s]\n\t" /* A = |a| */
          "uxth %[al], %[a]\n\t"
          "lsrs %[ah], %[a], #16\n\t"
          "uxth %[bl], %[b]\n\t"
          "lsrs %[bh], %[b], #16\n\t"
          "movs %[a], %[al]\n\t"
          "muls %[a], %[bl], %[a]\n\t"   /* lo = al bl */
          "muls %[al], %[bh], %[al]\n\t" /* al bh */
          "muls %[bh], %[ah], %[bh]\n\t" /* hi = ah bh */
          "muls %[ah], %[bl], %[ah]\n\t" /* ah bl */
          "adds %[ah], %[ah], %[al]\n\t" /* mid < 2^32 */
          "lsls %[al], %[ah], #16\n\t"
          "lsrs %[ah], %[ah], #16\n\t"
          "adds %[a], %[a], %[al]\n\t"
          "adcs %[bh], %[ah]\n\t" /* hi:lo = A b */
          "movs %[al], #1\n\t"
          "lsls %[al], %[al], #30\n\t"
          "adds %[al], %[al], %[s]\n\t" /* c = 2^30 - (a < 0) */
          "movs %[ah], #0\n\t"
          "adds %[a], %[a], %[al]\n\t"
          "adcs %[bh], %[ah]\n\t" /* hi:lo = A b + c */
          "lsrs %[a], %[a], #31\n\t"
          "lsls %[bh], %[bh], #1\n\t"
          "orrs %[a], %[bh]\n\t" /* q = (A b + c) >> 31 */
          "eors %[a], %[s]\n\t"
          "subs %[a], %[a], %[s]\n\t" /* a < 0 ? -q : q */
          : [a] "+l"(a), [s] "=&l"(s), [al] "=&l"(al), [ah] "=&l"(ah), [bl] "=&l"(bl),
            [bh] "=&l"(bh)
          : [b] "l"(b)
          : "cc");
  return a;
}
#define es_srdhm es_srdhm_v6m
#else
#define es_srdhm es_srdhm64
#endif

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
ES_INLINE int32_t es_requant_single64(int32_t x, int32_t multiplier, int32_t shift) {
  const int total = 31 - shift;
  return (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << (total - 1))) >> total);
}

/* the same in 32-bit operations, for multiplier >= 0 and 1 <= t = 31 - shift <= 63, h = 2^(t-1):
 * x >= 0: floor((X m + h) / 2^t); x < 0: floor((-X m + h) / 2^t) = -floor((X m + h - 1) / 2^t) */
ES_INLINE int32_t es_requant_single32(int32_t x, int32_t multiplier, int32_t shift) {
  const int total = 31 - shift;
  const uint32_t neg = x < 0 ? 1u : 0u;
  uint32_t q;
  uint32_t chi = 0, c;
  if (multiplier < 0 || total < 1 || total > 63) return es_requant_single64(x, multiplier, shift);
  if (total <= 32) {
    c = (1u << (total - 1)) - neg;
  } else { /* h = 2^(total - 33) * 2^32; h - 1 borrows from the high word */
    chi = (1u << (total - 33)) - neg;
    c = 0u - neg;
  }
  q = es_mulshr(neg ? 0u - (uint32_t)x : (uint32_t)x, (uint32_t)multiplier, chi, c, total);
  return (int32_t)(neg ? 0u - q : q);
}

#if defined(__thumb__) && !defined(__thumb2__)
#define es_requant_single es_requant_single32 /* ARMv6-M */
#else
#define es_requant_single es_requant_single64
#endif

ES_INLINE int8_t es_clamp(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* ---- portable multiply-accumulate over ES_G = 8 rows (FULLY_CONNECTED, CONV_2D) ----
 * Weights are packed at generation time (portable.py) as unsigned bytes w + 128, 8 rows
 * interleaved per input ([i][8]): an unsigned byte loads with an immediate offset in one
 * instruction on ARMv6-M (a signed one needs a register offset or an extra SXTB). The caller
 * subtracts 128 * sum(x) from each accumulator, so the sums are exact (mod 2^32, unsigned). */
#define ES_G 8
ES_LEAF void es_mac8(const int8_t *x, const uint8_t *w, int32_t n, uint32_t *acc) {
  const int8_t *end = x + n;
  int k;
#if defined(__thumb__) && !defined(__thumb2__)
  /* ARMv6-M: 4 inputs x 8 rows per pass, 27 instructions per input (3.4 per MAC); rows 0-3
   * accumulate in low registers, rows 4-7 in r8-r11 (ADD to a high register is one
   * instruction), the loop end in r12 */
  if (n >= 4) {
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    register uint32_t a4 __asm__("r8") = acc[4];
    register uint32_t a5 __asm__("r9") = acc[5];
    register uint32_t a6 __asm__("r10") = acc[6];
    register uint32_t a7 __asm__("r11") = acc[7];
    register const int8_t *end4 __asm__("r12") = x + (n & ~3);
    uint32_t v, t;
    __asm__ volatile(
        ".syntax unified\n\t"
        "1:\n\t"
#define ES_MAC_ROW(WO, A, ADD) "ldrb %[t], [%[w], #" #WO "]\n\tmuls %[t], %[v], %[t]\n\t" ADD " %[" #A "], %[t]\n\t"
#define ES_MAC8_STEP(XO, W0, W1, W2, W3, W4, W5, W6, W7)                          \
  "ldrb %[v], [%[x], #" #XO "]\n\tsxtb %[v], %[v]\n\t"                              \
  ES_MAC_ROW(W0, a0, "adds") ES_MAC_ROW(W1, a1, "adds") ES_MAC_ROW(W2, a2, "adds")  \
  ES_MAC_ROW(W3, a3, "adds") ES_MAC_ROW(W4, a4, "add") ES_MAC_ROW(W5, a5, "add")    \
  ES_MAC_ROW(W6, a6, "add") ES_MAC_ROW(W7, a7, "add")
        ES_MAC8_STEP(0, 0, 1, 2, 3, 4, 5, 6, 7)
        ES_MAC8_STEP(1, 8, 9, 10, 11, 12, 13, 14, 15)
        ES_MAC8_STEP(2, 16, 17, 18, 19, 20, 21, 22, 23)
        ES_MAC8_STEP(3, 24, 25, 26, 27, 28, 29, 30, 31)
#undef ES_MAC8_STEP
#undef ES_MAC_ROW
        "adds %[x], #4\n\t"
        "adds %[w], #32\n\t"
        "cmp %[x], %[e]\n\t"
        "bne 1b\n\t"
        : [x] "+l"(x), [w] "+l"(w), [a0] "+l"(a0), [a1] "+l"(a1), [a2] "+l"(a2),
          [a3] "+l"(a3), [a4] "+r"(a4), [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7),
          [v] "=&l"(v), [t] "=&l"(t)
        : [e] "r"(end4)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
  }
#else
  /* elsewhere (ARMv7-M without the DSP set, other 32-bit cores, the host): the eight
   * accumulators in registers, one MLA per weight byte */
  {
    uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (; x != end; w += ES_G) {
      const uint32_t v = (uint32_t)(int32_t)*x++;
      a0 += v * w[0];
      a1 += v * w[1];
      a2 += v * w[2];
      a3 += v * w[3];
      a4 += v * w[4];
      a5 += v * w[5];
      a6 += v * w[6];
      a7 += v * w[7];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc[4] = a4;
    acc[5] = a5;
    acc[6] = a6;
    acc[7] = a7;
  }
#endif
  while (x != end) { /* ARMv6-M: the n % 4 last inputs */
    const uint32_t v = (uint32_t)(int32_t)*x++;
    for (k = 0; k < ES_G; ++k) acc[k] += v * w[k];
    w += ES_G;
  }
}

ES_LEAF int32_t es_sum8(const int8_t *x, int32_t n) {
  int32_t s = 0;
  const int8_t *end = x + n;
  while (x != end) s += *x++;
  return s;
}

/* requantization of a group of rows: single = 1 is FULLY_CONNECTED's single rounding */
typedef struct {
  const int32_t *bias_eff; /* rounded up to a multiple of ES_G rows (zeros) */
  const int32_t *mult, *shift;
  int32_t rows, qstep, single, out_offset, act_min, act_max;
} es_rows_rq;

/* one function per rounding, so neither carries the other's code or spills */
ES_LEAF int8_t *es_store_twice(const es_rows_rq *q, int32_t o, const uint32_t *acc, int8_t *out) {
  const int32_t n = q->rows - o < ES_G ? q->rows - o : ES_G;
  const int32_t *mult = q->mult + o, *shift = q->shift + o;
  const int32_t off = q->out_offset, lo = q->act_min, hi = q->act_max;
  int32_t k;
  for (k = 0; k < n; ++k) {
    const int32_t r = es_requant((int32_t)acc[k], mult[k], shift[k]) + off;
    out[k] = (int8_t)(r < lo ? lo : (r > hi ? hi : r));
  }
  return out + n;
}

ES_LEAF int8_t *es_store_once(const es_rows_rq *q, int32_t o, const uint32_t *acc, int8_t *out) {
  const int32_t n = q->rows - o < ES_G ? q->rows - o : ES_G;
  const int32_t i = o * q->qstep;
  const int32_t *mult = q->mult + i, *shift = q->shift + i, step = q->qstep;
  const int32_t off = q->out_offset, lo = q->act_min, hi = q->act_max;
  int32_t k;
  for (k = 0; k < n; ++k) {
    const int32_t r = es_requant_single((int32_t)acc[k], mult[k * step], shift[k * step]) + off;
    out[k] = (int8_t)(r < lo ? lo : (r > hi ? hi : r));
  }
  return out + n;
}

ES_FN int8_t *es_store(const es_rows_rq *q, int32_t o, const uint32_t *acc, int8_t *out) {
  return q->single ? es_store_once(q, o, acc, out) : es_store_twice(q, o, acc, out);
}

/* every row of one contiguous column x[n]: rows rounded up to ES_G, weights [rows/G][n][G] */
ES_FN int8_t *es_rows(const es_rows_rq *q, const int8_t *x, int32_t n, const uint8_t *w,
                       int8_t *out) {
  const uint32_t corr = 128u * (uint32_t)es_sum8(x, n);
  int32_t o, k;
  for (o = 0; o < q->rows; o += ES_G, w += ES_G * n) {
    uint32_t acc[ES_G];
    for (k = 0; k < ES_G; ++k) acc[k] = (uint32_t)q->bias_eff[o + k] - corr;
    es_mac8(x, w, n, acc);
    out = es_store(q, o, acc, out);
  }
  return out;
}
