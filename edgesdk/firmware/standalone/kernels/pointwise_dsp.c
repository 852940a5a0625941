/* CONV_2D 1x1, stride 1, no padding (no im2col), weights widened at generation time (twice the
 * bytes): each pixel's inputs expanded once by SXTB16 into even and odd halfword pairs
 * (es_pw_expand), then one pixel x four output channels per pass, one LDRD of input pairs and
 * two LDMs of weight words per 4 inputs into eight SMLADs: per channel group of four and per 4
 * inputs k..k+3, for each channel (w_k, w_k+2), (w_k+1, w_k+3); then the in_c % 4 last inputs
 * as one word per channel; a last group padded with zero channels. Up to 64 accumulators per
 * pixel, then requantized in a row (es_requant_row, dsp.c). */
typedef struct {
  int16_t in_c, out_c;
  int32_t pixels, out_offset, act_min, act_max;
  int32_t rq_fast;          /* every channel's requantization constants have the fast form */
  const int32_t *weights;   /* ceil(out_c / 4) groups of 4 bias + 2 * in_c + 2 * (in_c % 4) words */
  const int32_t *rq;        /* [out_c][4]: es_requant_rq's constants */
} es_pw16_params;

/* n int8 inputs made ready for es_pw_groups in `dst` (word aligned): per 4 inputs k..k+3 the
 * halfword pairs (x_k, x_k+2), (x_k+1, x_k+3) (SXTB16 once per pixel, not once per channel
 * group), then the n % 4 last inputs as bytes: 2 * n bytes at most */
ES_FN void es_pw_expand(const int8_t *src, int32_t n, int8_t *dst) {
  uint32_t *d = (uint32_t *)(void *)dst;
  int32_t k;
  for (k = n >> 2; k > 0; --k, src += 4, d += 2) {
    const uint32_t u = es_read32(src);
    d[0] = ES_SXTB16(u);
    d[1] = ES_SXTB16_ROR8(u);
  }
  dst = (int8_t *)d;
  for (k = n & 3; k > 0; --k) *dst++ = *src++;
}

/* the accumulators of `groups` groups of four output channels for one pixel (x0: its inputs
 * as es_pw_expand leaves them), each group's four bias words first in its weights; returns the
 * weights of the next group (a leaf of its own: the multiply loop needs 13 registers) */
ES_LEAF_NOCLONE const int32_t *es_pw_groups(const int8_t *x0, const int32_t *w, int32_t n,
                                            int32_t *acc, int32_t groups) {
  const int8_t *end = x0 + 2 * (n & ~3);
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__)
  if (n >= 4 && groups > 0) {
    /* every group in assembly: the accumulators r0-r3 loaded from the bias words (LDM) and
     * stored (STM), 4 inputs a step (one LDRD of the expanded pairs into r8, r9, two LDMs of
     * weight words), two steps an iteration (an odd count starts with one), then the n % 4
     * last inputs one by one (MLA); the body's length in bytes, the end of `acc` and n % 4 on
     * the stack */
    register int32_t len __asm__("r0") = 2 * (n & ~3);
    register int32_t *acc_end __asm__("r1") = acc + 4 * groups;
    register int32_t tail __asm__("r2") = n & 3;
    const int8_t *x;
    __asm__ volatile(
        "push {r0, r1, r2}\n\t"
        "1:\n\t"
        "ldr r4, [sp]\n\t"
        "sub %[x], %[end], r4\n\t"
        "ldmia %[w]!, {r0, r1, r2, r3}\n\t"
        "tst r4, #8\n\t"
        "beq 2f\n\t"
        "ldrd r8, r9, [%[x]], #8\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r0, r4, r8, r0\n\t"
        "smlad r0, r5, r9, r0\n\t"
        "smlad r1, r6, r8, r1\n\t"
        "smlad r1, r7, r9, r1\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r2, r4, r8, r2\n\t"
        "smlad r2, r5, r9, r2\n\t"
        "smlad r3, r6, r8, r3\n\t"
        "smlad r3, r7, r9, r3\n\t"
        "cmp %[x], %[end]\n\t"
        "beq 3f\n\t"
        "2:\n\t"
        "ldrd r8, r9, [%[x]], #8\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r0, r4, r8, r0\n\t"
        "smlad r0, r5, r9, r0\n\t"
        "smlad r1, r6, r8, r1\n\t"
        "smlad r1, r7, r9, r1\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r2, r4, r8, r2\n\t"
        "smlad r2, r5, r9, r2\n\t"
        "smlad r3, r6, r8, r3\n\t"
        "smlad r3, r7, r9, r3\n\t"
        "ldrd r8, r9, [%[x]], #8\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r0, r4, r8, r0\n\t"
        "smlad r0, r5, r9, r0\n\t"
        "smlad r1, r6, r8, r1\n\t"
        "smlad r1, r7, r9, r1\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "smlad r2, r4, r8, r2\n\t"
        "smlad r2, r5, r9, r2\n\t"
        "smlad r3, r6, r8, r3\n\t"
        "smlad r3, r7, r9, r3\n\t"
        "cmp %[x], %[end]\n\t"
        "bne 2b\n\t"
        "3:\n\t"
        "ldr r4, [sp, #8]\n\t"
        "cbz r4, 5f\n\t"
        "mov r9, r4\n\t"
        "4:\n\t"
        "ldrsb r8, [%[x]], #1\n\t"
        "ldmia %[w]!, {r4, r5, r6, r7}\n\t"
        "mla r0, r4, r8, r0\n\t"
        "mla r1, r5, r8, r1\n\t"
        "mla r2, r6, r8, r2\n\t"
        "mla r3, r7, r8, r3\n\t"
        "subs r9, r9, #1\n\t"
        "bne 4b\n\t"
        "5:\n\t"
        "stmia %[acc]!, {r0, r1, r2, r3}\n\t"
        "ldr r4, [sp, #4]\n\t"
        "cmp %[acc], r4\n\t"
        "bne 1b\n\t"
        "add sp, sp, #12\n\t"
        : [w] "+r"(w), [acc] "+r"(acc), [x] "=&r"(x), "+r"(len), "+r"(acc_end), "+r"(tail)
        : [end] "r"(end)
        : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "cc", "memory");
    return w;
  }
#endif
  for (; groups > 0; --groups, acc += 4) {
    int32_t a0 = w[0], a1 = w[1], a2 = w[2], a3 = w[3], k;
    const int8_t *x = x0;
    w += 4;
    while (x != end) {
      const uint32_t *xv = (const uint32_t *)(const void *)x; /* UBSan checks the alignment */
      const uint32_t u_e = xv[0], u_o = xv[1];
      a0 = ES_SMLAD(w[0], u_e, a0);
      a0 = ES_SMLAD(w[1], u_o, a0);
      a1 = ES_SMLAD(w[2], u_e, a1);
      a1 = ES_SMLAD(w[3], u_o, a1);
      a2 = ES_SMLAD(w[4], u_e, a2);
      a2 = ES_SMLAD(w[5], u_o, a2);
      a3 = ES_SMLAD(w[6], u_e, a3);
      a3 = ES_SMLAD(w[7], u_o, a3);
      x += 8;
      w += 8;
    }
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

#define ES_PW_CHUNK 64 /* channels whose accumulators are kept before requantizing them */

/* one pixel, every output channel: the accumulators of a chunk of channels, four by four
 * (es_pw_groups), then requantized and written by es_requant_row (dsp.c) */
ES_LEAF void es_pw_pixel(const es_pw16_params *p, const int8_t *x, int8_t *out) {
  const int32_t n = p->in_c, oc_n = p->out_c;
  const uint32_t lo4 = es_bytes4(p->act_min), hi4 = es_bytes4(p->act_max);
  const int32_t *w = p->weights;
  int32_t acc[ES_PW_CHUNK];
  int32_t oc0;
  for (oc0 = 0; oc0 < oc_n; oc0 += ES_PW_CHUNK) {
    const int32_t count = oc_n - oc0 < ES_PW_CHUNK ? oc_n - oc0 : ES_PW_CHUNK;
    w = es_pw_groups(x, w, n, acc, (count + 3) >> 2);
    es_requant_row(acc, p->rq + 4 * oc0, count, p->out_offset, lo4, hi4, p->rq_fast, out + oc0);
  }
}

/* `col`: 2 * in_c bytes, word aligned, where each pixel is expanded (es_pw_expand) before its
 * outputs are computed, so in place they may overwrite it */
ES_FN void es_pointwise16_dsp(const es_pw16_params *p, const int8_t *in, int8_t *out,
                              int8_t *col) {
  const int32_t ic = p->in_c, oc_n = p->out_c;
  int32_t q;
  for (q = 0; q < p->pixels; ++q, in += ic, out += oc_n) {
    es_pw_expand(in, ic, col);
    es_pw_pixel(p, col, out);
  }
}
