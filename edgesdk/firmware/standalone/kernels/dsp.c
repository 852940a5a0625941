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
#define ES_SADD16(a, b) ((uint32_t)__sadd16((int16x2_t)(a), (int16x2_t)(b)))
#define ES_SMULBB(a, b) __smlabb((int32_t)(a), (int32_t)(b), 0) /* gcc's ACLE has no __smulbb */
#define ES_SMULTT(a, b) __smlatt((int32_t)(a), (int32_t)(b), 0)
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
#define ES_SMLABB(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 0) * es_half((b), 0))))
#define ES_SMLATT(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 1) * es_half((b), 1))))
/* two halfword lanes added, each wrapping to 16 bits as the instruction does */
ES_INLINE uint32_t es_sadd16(uint32_t a, uint32_t b) {
  return ((a + b) & 0xffffu) | (((a >> 16) + (b >> 16)) << 16);
}
#define ES_SADD16(a, b) es_sadd16((a), (b))
#define ES_SMULBB(a, b) (es_half((a), 0) * es_half((b), 0))
#define ES_SMULTT(a, b) (es_half((a), 1) * es_half((b), 1))
#endif

/* four bytes at any alignment (one LDR on ARMv7E-M, which allows unaligned words) */
ES_INLINE uint32_t es_read32(const int8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* es_requant (common.c) in fewer instructions, with the per-channel constants worked out at
 * generation time: rq = {multiplier, left shift, right shift, 2^right - 1}
 * (dsp.requant_constants). The same result for every x when the multiplier is not INT32_MIN
 * (QuantizeMultiplier's never are: 0 or in [2^30, 2^31)): the rounding doubling high multiply is
 * (x * m + 2^30) >> 31 (TFLite's truncating division of the nudged product comes to that
 * floor), then the rounding divide by 2^right, halves away from zero. */
ES_INLINE int32_t es_requant_rq(int32_t x, const int32_t *rq) {
  const int32_t m = rq[0], left = rq[1], right = rq[2], mask = rq[3];
  const int32_t h = (int32_t)(((int64_t)(int32_t)((uint32_t)x << left) * m + (1 << 30)) >> 31);
  return (h >> right) + ((h & mask) > ((mask >> 1) + (int32_t)((uint32_t)h >> 31)));
}
