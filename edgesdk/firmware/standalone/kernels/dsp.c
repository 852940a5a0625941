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
/* acc + ((a * b + 2^31) >> 32): the rounded top word of the product, accumulated */
ES_INLINE int32_t es_smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
#define ES_SMMLAR(a, b, acc) es_smmlar((a), (b), (acc))
/* acc + ((a * b) >> 32), exact: the top word of (acc << 32) + a * b */
ES_INLINE int32_t es_smmla(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
#define ES_SMMLA(a, b, acc) es_smmla((a), (b), (acc))
#define ES_SSAT8(x) __ssat((x), 8)
/* bytes a, b, c, d (low first) of one word: three BFIs */
ES_INLINE uint32_t es_pack4(int32_t a, int32_t b, int32_t c, int32_t d) {
  uint32_t r = (uint32_t)a;
  __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8"
          : "+r"(r)
          : "r"(b), "r"(c), "r"(d));
  return r;
}
/* each signed byte of v clamped to the bytes of lo4 and hi4: SSUB8 sets GE per byte, SEL picks */
ES_INLINE uint32_t es_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4) {
  uint32_t t;
  __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2\n\tssub8 %1, %3, %0\n\tsel %0, %0, %3"
          : "+r"(v), "=&r"(t)
          : "r"(lo4), "r"(hi4)
          : "cc");
  return v;
}
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
ES_INLINE int32_t es_smmla(int32_t a, int32_t b, int32_t acc) {
  const uint64_t s = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b);
  return (int32_t)(uint32_t)(s >> 32);
}
#define ES_SMMLA(a, b, acc) es_smmla((a), (b), (acc))
#define ES_SMLABB(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 0) * es_half((b), 0))))
#define ES_SMLATT(a, b, acc) ((int32_t)((uint32_t)(acc) + (uint32_t)(es_half((a), 1) * es_half((b), 1))))
/* two halfword lanes added, each wrapping to 16 bits as the instruction does */
ES_INLINE uint32_t es_sadd16(uint32_t a, uint32_t b) {
  return ((a + b) & 0xffffu) | (((a >> 16) + (b >> 16)) << 16);
}
#define ES_SADD16(a, b) es_sadd16((a), (b))
#define ES_SMULBB(a, b) (es_half((a), 0) * es_half((b), 0))
#define ES_SMULTT(a, b) (es_half((a), 1) * es_half((b), 1))
#define ES_SSAT8(x) es_clamp((x), -128, 127)
ES_INLINE uint32_t es_pack4(int32_t a, int32_t b, int32_t c, int32_t d) {
  return ((uint32_t)a & 0xffu) | ((uint32_t)b & 0xffu) << 8 | ((uint32_t)c & 0xffu) << 16 |
         ((uint32_t)d & 0xffu) << 24;
}
ES_INLINE uint32_t es_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4) {
  uint32_t r = 0;
  int k;
  for (k = 0; k < 32; k += 8) {
    const int32_t x = (int8_t)(v >> k), lo = (int8_t)(lo4 >> k), hi = (int8_t)(hi4 >> k);
    r |= ((uint32_t)(x < lo ? lo : (x > hi ? hi : x)) & 0xffu) << k;
  }
  return r;
}
#endif
/* a byte replicated to the four of a word */
ES_INLINE uint32_t es_bytes4(int32_t v) { return ((uint32_t)v & 0xffu) * 0x01010101u; }
/* four bytes at any alignment (one STR on ARMv7E-M) */
ES_INLINE void es_write32(int8_t *p, uint32_t v) { memcpy(p, &v, 4); }

#if defined(__GNUC__)
#define ES_LIKELY(c) __builtin_expect((c), 1)
#else
#define ES_LIKELY(c) (c)
#endif
/* a hot leaf that gcc must not clone with constant arguments either: its inline-assembly loop
 * takes 13 registers, which a clone's extra live values can leave it without */
#if defined(__GNUC__) && !defined(__clang__)
#define ES_LEAF_NOCLONE static __attribute__((noinline, noclone, unused))
#else
#define ES_LEAF_NOCLONE ES_LEAF
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

/* the fast form only (every channel of the layer has it: dsp.requant_constants' first word
 * after the multiplier is > 0) */
ES_INLINE int32_t es_requant_fast(int32_t x, const int32_t *rq) {
  const int32_t h = ES_SMMLAR((int32_t)((uint32_t)x << rq[1]), rq[0], rq[2]);
  return (h + (x >> 31)) >> rq[3];
}

ES_INLINE int32_t es_requant_rq(int32_t x, const int32_t *rq) {
  if (ES_LIKELY(rq[1] > 0)) return es_requant_fast(x, rq);
  return es_requant_rq_exact(x, rq);
}

/* n accumulators of consecutive channels requantized (constants rq, four per channel), offset,
 * saturated (SSAT), four at a time packed into a word (BFI), clamped to [lo, hi] four bytes at
 * once (SSUB8 + SEL: lo4 / hi4 hold the bounds in every byte) and written with one store.
 * `fast`: every channel has the fast form (no test per output). */
ES_LEAF void es_requant_row(const int32_t *acc, const int32_t *rq, int32_t n, int32_t off,
                            uint32_t lo4, uint32_t hi4, int fast, int8_t *out) {
  int32_t k;
  uint32_t v;
  if (fast) {
    for (k = n >> 2; k > 0; --k, out += 4) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
      /* es_requant_fast four times, the constants of a channel in one LDM */
      int32_t x, t;
      __asm__ volatile(
          "ldr %[x], [%[acc]], #4\n\t"
          "ldmia %[rq]!, {r4, r5, r6, r7}\n\t"
          "lsl %[t], %[x], r5\n\t"
          "smmlar %[t], %[t], r4, r6\n\t"
          "add %[t], %[t], %[x], asr #31\n\t"
          "asr %[t], %[t], r7\n\t"
          "add %[t], %[t], %[off]\n\t"
          "ssat %[v], #8, %[t]\n\t"
          "ldr %[x], [%[acc]], #4\n\t"
          "ldmia %[rq]!, {r4, r5, r6, r7}\n\t"
          "lsl %[t], %[x], r5\n\t"
          "smmlar %[t], %[t], r4, r6\n\t"
          "add %[t], %[t], %[x], asr #31\n\t"
          "asr %[t], %[t], r7\n\t"
          "add %[t], %[t], %[off]\n\t"
          "ssat %[t], #8, %[t]\n\t"
          "bfi %[v], %[t], #8, #8\n\t"
          "ldr %[x], [%[acc]], #4\n\t"
          "ldmia %[rq]!, {r4, r5, r6, r7}\n\t"
          "lsl %[t], %[x], r5\n\t"
          "smmlar %[t], %[t], r4, r6\n\t"
          "add %[t], %[t], %[x], asr #31\n\t"
          "asr %[t], %[t], r7\n\t"
          "add %[t], %[t], %[off]\n\t"
          "ssat %[t], #8, %[t]\n\t"
          "bfi %[v], %[t], #16, #8\n\t"
          "ldr %[x], [%[acc]], #4\n\t"
          "ldmia %[rq]!, {r4, r5, r6, r7}\n\t"
          "lsl %[t], %[x], r5\n\t"
          "smmlar %[t], %[t], r4, r6\n\t"
          "add %[t], %[t], %[x], asr #31\n\t"
          "asr %[t], %[t], r7\n\t"
          "add %[t], %[t], %[off]\n\t"
          "ssat %[t], #8, %[t]\n\t"
          "bfi %[v], %[t], #24, #8\n\t"
          : [v] "=&r"(v), [x] "=&r"(x), [t] "=&r"(t), [acc] "+r"(acc), [rq] "+r"(rq)
          : [off] "r"(off)
          : "r4", "r5", "r6", "r7", "memory");
#else
      v = es_pack4(ES_SSAT8(es_requant_fast(acc[0], rq) + off),
                   ES_SSAT8(es_requant_fast(acc[1], rq + 4) + off),
                   ES_SSAT8(es_requant_fast(acc[2], rq + 8) + off),
                   ES_SSAT8(es_requant_fast(acc[3], rq + 12) + off));
      acc += 4;
      rq += 16;
#endif
      es_write32(out, es_clamp4(v, lo4, hi4));
    }
  } else {
    for (k = n >> 2; k > 0; --k, acc += 4, rq += 16, out += 4) {
      v = es_pack4(ES_SSAT8(es_requant_rq(acc[0], rq) + off),
                   ES_SSAT8(es_requant_rq(acc[1], rq + 4) + off),
                   ES_SSAT8(es_requant_rq(acc[2], rq + 8) + off),
                   ES_SSAT8(es_requant_rq(acc[3], rq + 12) + off));
      es_write32(out, es_clamp4(v, lo4, hi4));
    }
  }
  for (k = n & 3; k > 0; --k, rq += 4)
    *out++ = es_clamp(es_requant_rq(*acc++, rq) + off, (int8_t)lo4, (int8_t)hi4);
}
