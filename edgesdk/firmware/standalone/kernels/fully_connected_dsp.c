/* FULLY_CONNECTED with the DSP extension: one input row x four output channels per pass, the
 * int8 weights packed at generation time (dsp.pack_fc4) per group of four channels and per 4
 * inputs k..k+3 as one word per channel [w_k, w_k+1, w_k+2, w_k+3] (SXTB16 and SXTB16 ROR #8
 * give the pairs (w_k, w_k+2), (w_k+1, w_k+3) the input word gives too), then the in_depth % 4
 * last inputs as four bytes, one per channel; a last group padded with zero channels.
 * Requantization with single rounding as fully_connected.c (LiteRT's reference), through
 * SMMLA where the shift allows it (es_requant_single_dsp). */
typedef struct {
  int16_t batches, in_depth, out_depth, per_channel;
  int32_t out_offset, act_min, act_max;
  const int8_t *weights;    /* packed: ceil(out_depth / 4) groups of 4 * in_depth bytes */
  const int32_t *bias_eff;  /* [ceil(out_depth / 4) * 4], zero for the padding channels */
  const int32_t *mult;      /* [out_depth] or [1] */
  const int32_t *shift;
} es_fc_dsp_params;

/* es_requant_single (common.c), the same for every x: with total = 31 - shift >= 33, 2^(total-1)
 * is a multiple of 2^32, so (x m + 2^(total-1)) >> total = (2^(total-33) + ((x m) >> 32)) >>
 * (total - 32), and SMMLA gives the sum in brackets exactly (the top word of (c << 32) + x m) */
ES_INLINE int32_t es_requant_single_dsp(int32_t x, int32_t m, int32_t shift) {
  if (ES_LIKELY(shift <= -2)) return ES_SMMLA(x, m, 1 << (-shift - 2)) >> (-shift - 1);
  return es_requant_single(x, m, shift);
}

#define ES_FC_CHUNK 64 /* channels whose accumulators are kept before requantizing them */

/* the accumulators of `groups` groups of four output channels for one input row, from the
 * bias; returns the weights of the next group */
ES_LEAF_NOCLONE const int8_t *es_fc_groups(const int8_t *x0, const int8_t *w, int32_t n,
                                           const int32_t *bias, int32_t *acc, int32_t groups) {
  const int8_t *end = x0 + (n & ~3);
  for (; groups > 0; --groups, bias += 4, acc += 4) {
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3], k;
    const int8_t *x = x0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
    /* 4 inputs x 4 channels a step, two steps an iteration (an odd count starts with one) */
    if (x != end) {
      uint32_t u, u_o;
      __asm__ volatile(
          "sub %[u], %[end], %[x]\n\t"
          "tst %[u], #4\n\t"
          "beq 2f\n\t"
        "ldr %[u], [%[x]], #4\n\t"
        "sxtb16 %[uo], %[u], ror #8\n\t"
        "sxtb16 %[u], %[u]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a0], r4, %[u], %[a0]\n\t"
        "smlad %[a0], r6, %[uo], %[a0]\n\t"
        "smlad %[a1], r5, %[u], %[a1]\n\t"
        "smlad %[a1], r7, %[uo], %[a1]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a2], r4, %[u], %[a2]\n\t"
        "smlad %[a2], r6, %[uo], %[a2]\n\t"
        "smlad %[a3], r5, %[u], %[a3]\n\t"
        "smlad %[a3], r7, %[uo], %[a3]\n\t"
          "cmp %[x], %[end]\n\t"
          "beq 3f\n\t"
          "2:\n\t"
        "ldr %[u], [%[x]], #4\n\t"
        "sxtb16 %[uo], %[u], ror #8\n\t"
        "sxtb16 %[u], %[u]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a0], r4, %[u], %[a0]\n\t"
        "smlad %[a0], r6, %[uo], %[a0]\n\t"
        "smlad %[a1], r5, %[u], %[a1]\n\t"
        "smlad %[a1], r7, %[uo], %[a1]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a2], r4, %[u], %[a2]\n\t"
        "smlad %[a2], r6, %[uo], %[a2]\n\t"
        "smlad %[a3], r5, %[u], %[a3]\n\t"
        "smlad %[a3], r7, %[uo], %[a3]\n\t"
        "ldr %[u], [%[x]], #4\n\t"
        "sxtb16 %[uo], %[u], ror #8\n\t"
        "sxtb16 %[u], %[u]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a0], r4, %[u], %[a0]\n\t"
        "smlad %[a0], r6, %[uo], %[a0]\n\t"
        "smlad %[a1], r5, %[u], %[a1]\n\t"
        "smlad %[a1], r7, %[uo], %[a1]\n\t"
        "ldmia %[w]!, {r4, r5}\n\t"
        "sxtb16 r6, r4, ror #8\n\t"
        "sxtb16 r4, r4\n\t"
        "sxtb16 r7, r5, ror #8\n\t"
        "sxtb16 r5, r5\n\t"
        "smlad %[a2], r4, %[u], %[a2]\n\t"
        "smlad %[a2], r6, %[uo], %[a2]\n\t"
        "smlad %[a3], r5, %[u], %[a3]\n\t"
        "smlad %[a3], r7, %[uo], %[a3]\n\t"
          "cmp %[x], %[end]\n\t"
          "bne 2b\n\t"
          "3:\n\t"
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w),
            [u] "=&r"(u), [uo] "=&r"(u_o)
          : [end] "r"(end)
          : "r4", "r5", "r6", "r7", "cc", "memory");
    }
#else
    while (x != end) {
      const uint32_t u = es_read32(x);
      const uint32_t u_e = ES_SXTB16(u), u_o = ES_SXTB16_ROR8(u);
      uint32_t v = es_read32(w);
      a0 = ES_SMLAD(ES_SXTB16(v), u_e, a0);
      a0 = ES_SMLAD(ES_SXTB16_ROR8(v), u_o, a0);
      v = es_read32(w + 4);
      a1 = ES_SMLAD(ES_SXTB16(v), u_e, a1);
      a1 = ES_SMLAD(ES_SXTB16_ROR8(v), u_o, a1);
      v = es_read32(w + 8);
      a2 = ES_SMLAD(ES_SXTB16(v), u_e, a2);
      a2 = ES_SMLAD(ES_SXTB16_ROR8(v), u_o, a2);
      v = es_read32(w + 12);
      a3 = ES_SMLAD(ES_SXTB16(v), u_e, a3);
      a3 = ES_SMLAD(ES_SXTB16_ROR8(v), u_o, a3);
      x += 4;
      w += 16;
    }
#endif
    for (k = n & 3; k > 0; --k, w += 4) {
      const int32_t u = *x++;
      a0 += u * w[0];
      a1 += u * w[1];
      a2 += u * w[2];
      a3 += u * w[3];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
  }
  return w;
}

ES_FN void es_fully_connected_dsp(const es_fc_dsp_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->in_depth, n_out = p->out_depth, off = p->out_offset;
  const int32_t step = p->per_channel ? 1 : 0;
  int32_t acc[ES_FC_CHUNK];
  int32_t b, o0, k;
  for (b = 0; b < p->batches; ++b, in += depth) {
    const int8_t *w = p->weights;
    for (o0 = 0; o0 < n_out; o0 += ES_FC_CHUNK) {
      const int32_t count = n_out - o0 < ES_FC_CHUNK ? n_out - o0 : ES_FC_CHUNK;
      const int32_t *m = p->mult + step * o0, *sh = p->shift + step * o0;
      w = es_fc_groups(in, w, depth, p->bias_eff + o0, acc, (count + 3) >> 2);
      for (k = 0; k < count; ++k, m += step, sh += step)
        *out++ = es_clamp(es_requant_single_dsp(acc[k], *m, *sh) + off, p->act_min, p->act_max);
    }
  }
}
