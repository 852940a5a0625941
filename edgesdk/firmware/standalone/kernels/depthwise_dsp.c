/* DEPTHWISE_CONV_2D with the DSP extension, any depth multiplier and channel count: the output
 * channels in groups of four (zero channels after the last). The input rows a window needs are
 * widened once into a ring of `span` padded rows, int16 halfword pairs per group of four
 * channels ({c, c+2}, {c+1, c+3}, as SXTB16 gives them), laid out [slot][column][2] words,
 * one group at a time: a padded tap reads the input zero point (bias_eff cancels it), so every pixel is an
 * interior one and a tap is one LDRD of input and one of weights (pre-widened at generation
 * time) into four SMLABB / SMLATT, the accumulators of four channels in registers over the taps;
 * 3x3 with column dilation 1 unrolled with immediate offsets; requantization fused. The ring also
 * makes the in-place case safe: a row is widened before the output row over it is written. */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, depth_mult;
  int16_t groups, wp, span; /* channel groups, padded row width, rows in the ring */
  int16_t left, mid;        /* of a padded row: zero-point columns first, then input ones */
  int32_t out_offset, act_min, act_max;
  int32_t zp2;              /* the input zero point in both halfwords */
  const int32_t *weights;   /* [groups][k_h * k_w]{(w_c, w_c+2), (w_c+1, w_c+3)} as halfwords */
  const int32_t *bias_eff;  /* [groups * 4]: bias + input_offset * sum(weights of the channel) */
  const int32_t *rq;        /* [groups * 4][4]: es_requant_rq's constants */
} es_dw_dsp_params;

#define ES_DW_MAX_ROWS 32

/* the four channels of group g of padded input row py into `slot` ([wp][2] words): `left`
 * columns of zero points, `mid` of the input, the rest zero points again */
ES_FN void es_dw_widen(const es_dw_dsp_params *p, const int8_t *in, int py, int g, int32_t *d) {
  const int y = py - p->pad_t, ic = p->in_c, oc = p->out_c, dm = p->depth_mult;
  const int32_t zp2 = p->zp2;
  int32_t *const end = d + 2 * p->wp;
  int32_t *e = d + 2 * p->left;
  int j;
  if (y < 0 || y >= p->in_h) e = end;
  for (; d != e; d += 2) d[0] = d[1] = zp2;
  if (e == end) return;
  e = d + 2 * p->mid;
  if (dm == 1 && (oc & 3) == 0) {
    const int8_t *src = in + (int32_t)y * p->in_w * ic + 4 * g;
    for (; d != e; d += 2, src += ic) {
      const uint32_t v = es_read32(src);
      d[0] = (int32_t)ES_SXTB16(v);
      d[1] = (int32_t)ES_SXTB16_ROR8(v);
    }
  } else {
    const int8_t *src = in + (int32_t)y * p->in_w * ic;
    for (; d != e; d += 2, src += ic) {
      uint32_t v[4];
      for (j = 0; j < 4; ++j) {
        const int c = 4 * g + j;
        v[j] = c < oc ? (uint32_t)(int32_t)src[c / dm] & 0xffffu : 0u;
      }
      d[0] = (int32_t)(v[0] | v[2] << 16);
      d[1] = (int32_t)(v[1] | v[3] << 16);
    }
  }
  for (; d != end; d += 2) d[0] = d[1] = zp2;
}

#define ES_DW_TAP(row, col, t)                                                                  \
  do {                                                                                          \
    const uint32_t xe = (uint32_t)(row)[2 * (col)], xo = (uint32_t)(row)[2 * (col) + 1];        \
    const uint32_t we = (uint32_t)w[2 * (t)], wo = (uint32_t)w[2 * (t) + 1];                    \
    a0 = ES_SMLABB(xe, we, a0);                                                                 \
    a2 = ES_SMLATT(xe, we, a2);                                                                 \
    a1 = ES_SMLABB(xo, wo, a1);                                                                 \
    a3 = ES_SMLATT(xo, wo, a3);                                                                 \
  } while (0)

/* the four channels of out_w pixels requantized and written (n < 4: the last group's real
 * ones); acc [out_w][4] */
ES_LEAF void es_dw_put(const es_dw_dsp_params *p, const int32_t *acc, const int32_t *rq, int n,
                       int8_t *out) {
  const int32_t off = p->out_offset, lo = p->act_min, hi = p->act_max, ostep = p->out_c;
  const int32_t *end = acc + 4 * p->out_w;
  if (n == 4) {
    for (; acc != end; acc += 4, out += ostep) {
      out[0] = es_clamp(es_requant_rq(acc[0], rq + 0) + off, lo, hi);
      out[1] = es_clamp(es_requant_rq(acc[1], rq + 4) + off, lo, hi);
      out[2] = es_clamp(es_requant_rq(acc[2], rq + 8) + off, lo, hi);
      out[3] = es_clamp(es_requant_rq(acc[3], rq + 12) + off, lo, hi);
    }
  } else {
    int j;
    for (; acc != end; acc += 4, out += ostep)
      for (j = 0; j < n; ++j) out[j] = es_clamp(es_requant_rq(acc[j], rq + 4 * j) + off, lo, hi);
  }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__) && defined(__GNUC__)
/* es_dw_row3x3 below in Thumb-2 (the same instructions gcc picks, without its spills: 13
 * registers, the loop's bias, end and step read from the stack); args as AAPCS passes them */
#define ES_DW_ASM_TAP(row, xoff, woff)                                                          \
  "ldrd r8, r9, [" #row ", #" #xoff "]\n\t"                                                    \
  "ldrd r10, r11, [r3, #" #woff "]\n\t"                                                        \
  "smlabb r4, r8, r10, r4\n\t"                                                                 \
  "smlatt r6, r8, r10, r6\n\t"                                                                 \
  "smlabb r5, r9, r11, r5\n\t"                                                                 \
  "smlatt r7, r9, r11, r7\n\t"
__attribute__((naked, noinline, unused)) static void es_dw_row3x3(
    const int32_t *r0, const int32_t *r1, const int32_t *r2, const int32_t *w,
    const int32_t *bias, int32_t *acc, const int32_t *end, int32_t step) {
  (void)r0, (void)r1, (void)r2, (void)w, (void)bias, (void)acc, (void)end, (void)step;
  __asm__(
      "push {r4-r11, lr}\n\t"
      "ldr r12, [sp, #40]\n\t" /* acc */
      "ldr lr, [sp, #48]\n\t"  /* step, words */
      "lsl lr, lr, #2\n\t"
      "ldr r8, [sp, #44]\n\t" /* end */
      "cmp r12, r8\n\t"
      "beq 2f\n"
      "1:\n\t"
      "ldr r8, [sp, #36]\n\t" /* bias */
      "ldm r8, {r4-r7}\n\t"
      ES_DW_ASM_TAP(r0, 0, 0) ES_DW_ASM_TAP(r0, 8, 8) ES_DW_ASM_TAP(r0, 16, 16)
      ES_DW_ASM_TAP(r1, 0, 24) ES_DW_ASM_TAP(r1, 8, 32) ES_DW_ASM_TAP(r1, 16, 40)
      ES_DW_ASM_TAP(r2, 0, 48) ES_DW_ASM_TAP(r2, 8, 56) ES_DW_ASM_TAP(r2, 16, 64)
      "stm r12!, {r4-r7}\n\t"
      "add r0, r0, lr\n\t"
      "add r1, r1, lr\n\t"
      "add r2, r2, lr\n\t"
      "ldr r8, [sp, #44]\n\t"
      "cmp r12, r8\n\t"
      "bne 1b\n"
      "2:\n\t"
      "pop {r4-r11, pc}\n\t");
}
#else
/* the accumulators of one output row of one group, 3x3 taps, column dilation 1: ring rows
 * r0..r2, `step` words between two pixels' windows */
ES_LEAF void es_dw_row3x3(const int32_t *r0, const int32_t *r1, const int32_t *r2,
                          const int32_t *w, const int32_t *bias, int32_t *acc,
                          const int32_t *end, int32_t step) {
  for (; acc != end; acc += 4, r0 += step, r1 += step, r2 += step) {
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    ES_DW_TAP(r0, 0, 0);
    ES_DW_TAP(r0, 1, 1);
    ES_DW_TAP(r0, 2, 2);
    ES_DW_TAP(r1, 0, 3);
    ES_DW_TAP(r1, 1, 4);
    ES_DW_TAP(r1, 2, 5);
    ES_DW_TAP(r2, 0, 6);
    ES_DW_TAP(r2, 1, 7);
    ES_DW_TAP(r2, 2, 8);
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
  }
}
#endif

/* the same for any k_h x k_w and dilation: `rows` the k_h ring rows of the group */
ES_LEAF void es_dw_row(const es_dw_dsp_params *p, const int32_t *const *rows, const int32_t *w0,
                       const int32_t *bias, int32_t *acc) {
  const int kh = p->k_h, kw = p->k_w, dw = 2 * p->dil_w;
  int ox, ky, kx;
  for (ox = 0; ox < p->out_w; ++ox, acc += 4) {
    const int32_t col = 2 * (int32_t)ox * p->stride_w;
    const int32_t *w = w0;
    int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
    for (ky = 0; ky < kh; ++ky) {
      const int32_t *r = rows[ky] + col;
      for (kx = 0; kx < kw; ++kx, r += dw, w += 2) ES_DW_TAP(r, 0, 0);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
  }
}

/* `ring`: span * wp * 8 bytes, then out_w * 16 of accumulators. A group of four channels at a
 * time over all rows, so the ring holds one group's rows; in place (`in` and `out` one buffer,
 * depth multiplier 1, same shape) an output row only overwrites the group's own channels of an
 * input row already widened. */
ES_FN void es_depthwise_dsp(const es_dw_dsp_params *p, const int8_t *in, int8_t *out,
                            int32_t *ring) {
  const int ng = p->groups, kh = p->k_h, span = p->span, taps = p->k_h * p->k_w;
  const int32_t slot_words = 2 * (int32_t)p->wp;
  const int fast3 = kh == 3 && p->k_w == 3 && p->dil_w == 1;
  int32_t *acc = ring + span * slot_words;
  const int32_t *rows[ES_DW_MAX_ROWS];
  int oy, ky, g;
  for (g = 0; g < ng; ++g) {
    const int32_t *w = p->weights + 2 * g * taps, *bias = p->bias_eff + 4 * g;
    const int n = p->out_c - 4 * g < 4 ? p->out_c - 4 * g : 4;
    int next = 0;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int py0 = oy * p->stride_h, last = py0 + (kh - 1) * p->dil_h;
      int py = next > py0 ? next : py0;
      for (; py <= last; ++py) es_dw_widen(p, in, py, g, ring + (py % span) * slot_words);
      next = last + 1;
      for (ky = 0; ky < kh; ++ky) rows[ky] = ring + ((py0 + ky * p->dil_h) % span) * slot_words;
      if (fast3) {
        es_dw_row3x3(rows[0], rows[1], rows[2], w, bias, acc, acc + 4 * p->out_w,
                     2 * p->stride_w);
      } else {
        es_dw_row(p, rows, w, bias, acc);
      }
      es_dw_put(p, acc, p->rq + 16 * g, n, out + (int32_t)oy * p->out_w * p->out_c + 4 * g);
    }
  }
}
