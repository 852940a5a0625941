/* DSP-extension SIMD (ARMv7E-M, ARMv8-M Mainline with DSP) through ACLE intrinsics; elsewhere
 * (the host's verification build) the same arithmetic in portable C, so the host checks the
 * re-packed weights and the loops bit for bit and the core runs the instructions. */
#include <string.h>
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define ES_SXTB16(x) ((uint32_t)__sxtb16((int32_t)(x)))
/* gcc does not fold a rotate into SXTB16's own ROR #8 */
ES_INLINE uint32_t es_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
#define ES_SXTB16_ROR8(x) es_sxtb16_ror8(x)
#define ES_SMLAD(a, b, acc) __smlad((int32_t)(a), (int32_t)(b), (acc))
#define ES_SMLABB(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define ES_SMLATT(a, b, acc) __smlatt((int32_t)(a), (int32_t)(b), (acc))
/* acc + ((a * b + 2^31) >> 32): the rounded top word of the product, accumulated */
ES_INLINE int32_t es_smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
#define ES_SMMLAR(a, b, acc) es_smmlar((a), (b), (acc))
#else
/* bytes 0 and 2 of x, sign-extended to the two halfwords */
ES_INLINE uint32_t es_sxtb16(uint32_t x) {
  const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xffu) & 0xffffu;
  const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xffu) & 0xffffu;
  return lo | (hi << 16);
}
ES_INLINE int32_t es_half(uint32_t x, int top) { return (int16_t)((top ? x >> 16 : x) & 0xffffu); }
/* acc + lo(a) * lo(b) + hi(a) * hi(b), wrapping as the instruction does */
ES_INLINE int32_t es_smlad(uint32_t a, uint32_t b, int32_t acc) {
  const uint32_t p = (uint32_t)(es_half(a, 0) * es_half(b, 0)) + (uint32_t)(es_half(a, 1) * es_half(b, 1));
  return (int32_t)((uint32_t)acc + p);
}
#define ES_SXTB16(x) es_sxtb16(x)
#define ES_SXTB16_ROR8(x) es_sxtb16((x) >> 8)
#define ES_SMLAD(a, b, acc) es_smlad((a), (b), (acc))
/* the top word of (acc << 32) + a * b + 2^31, modulo 2^64 as the instruction computes it */
ES_INLINE int32_t es_smmlar(int32_t a, int32_t b, int32_t acc) {
  const uint64_t s = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) + 0x80000000u;
  return (int32_t)(uint32_t)(s >> 32);
}
#define ES_SMMLAR(a, b, acc) es_smmlar((a), (b), (acc))
#define ES_SMLABB(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 0) * es_half((b), 0))))
#define ES_SMLATT(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 1) * es_half((b), 1))))
#endif

#if defined(__GNUC__)
#define ES_LIKELY(c) __builtin_expect((c), 1)
#else
#define ES_LIKELY(c) (c)
#endif

/* four bytes at any alignment (one LDR on ARMv7E-M, which allows unaligned words) */
ES_INLINE uint32_t es_read32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* es_requant (common.c) in fewer instructions, with the per-channel constants worked out at
 * generation time (dsp.requant_constants), the same result for every x the constants allow.
 *
 * Fast form, rq = {m, left + 1, 2^(right - 1), right}, right >= 1, m >= 0, chosen only where the
 * weights and bias prove |x| << left < 2^30 (dsp.acc_bound): TFLite's rounding doubling high
 * multiply of x' = x << left is h = (x' * m + 2^30) >> 31 (its truncating division of the nudged
 * product comes to that floor), and with 2 * x' in int32 that is SMMULR(2 * x', m) =
 * (2 x' m + 2^31) >> 32; SMMLAR adds 2^(right - 1) to it for free. The rounding divide by
 * 2^right (halves away from zero) is then (h + 2^(right-1) - [h < 0]) >> right, and [h < 0] may
 * be [x < 0]: they differ only where h == 0 > x, and there (2^(right-1) - 1) >> right == 0 too.
 *
 * Exact form, rq = {m, ~left (< 0), 2^right - 1, right}: any x (a multiplier not INT32_MIN;
 * QuantizeMultiplier's are 0 or in [2^30, 2^31)), through the 64-bit product. */
ES_LEAF int32_t es_requant_rq_exact(int32_t x, const int32_t *rq) {
  const int32_t m = rq[0], left = ~rq[1], mask = rq[2], right = rq[3];
  const int32_t h = (int32_t)(((int64_t)(int32_t)((uint32_t)x << left) * m + (1 << 30)) >> 31);
  return (h >> right) + ((h & mask) > ((mask >> 1) + (int32_t)((uint32_t)h >> 31)));
}

ES_INLINE int32_t es_requant_rq(int32_t x, const int32_t *rq) {
  const int32_t l = rq[1];
  if (ES_LIKELY(l > 0)) {
    const int32_t h = ES_SMMLAR((int32_t)((uint32_t)x << l), rq[0], rq[2]);
    return (h + (x >> 31)) >> rq[3];
  }
  return es_requant_rq_exact(x, rq);
}
