/* DEPTHWISE_CONV_2D, depth multiplier 1, channels a multiple of 4, with the DSP extension: per
 * output pixel the k_h * k_w tap addresses are worked out once (a tap outside the image points at
 * a row of input zero points, so every window starts from bias_eff), then four channels at a
 * time keep their accumulators in registers over all taps: one word of input (SXTB16 into even
 * and odd channels) against weights pre-expanded at generation time to halfword pairs, one
 * SMLABB / SMLATT per channel; requantization fused. */
typedef struct {
  int16_t in_h, in_w, ch, out_h, out_w, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t out_offset, act_min, act_max;
  const int32_t *weights;   /* [ch / 4][k_h * k_w]{(w_c, w_c+2), (w_c+1, w_c+3)} as halfwords */
  const int32_t *bias_eff;  /* [ch]: bias + input_offset * sum(weights of the channel) */
  const int32_t *rq;        /* [ch][4]: es_requant_rq's constants */
  const int8_t *zp_row;     /* [ch] the input zero point: what a padded tap reads */
} es_dw_dsp_params;

#define ES_DW_MAX_TAPS 64

/* four channels c..c+3 of one output pixel: the accumulators stay in registers over the taps
 * (a leaf of its own: with the requantization in the same function they would spill) */
ES_LEAF void es_dw_group(const int8_t *const *taps, int32_t n, int32_t c, const int32_t *w,
                         const int32_t *bias, int32_t *acc) {
  int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
  const int8_t *const *end = taps + n;
  while (taps != end) {
    const uint32_t x = es_read32(*taps++ + c);
    const uint32_t x_e = ES_SXTB16(x), x_o = ES_SXTB16_ROR8(x);
    const uint32_t w_e = (uint32_t)w[0], w_o = (uint32_t)w[1];
    a0 = ES_SMLABB(x_e, w_e, a0);
    a2 = ES_SMLATT(x_e, w_e, a2);
    a1 = ES_SMLABB(x_o, w_o, a1);
    a3 = ES_SMLATT(x_o, w_o, a3);
    w += 2;
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* the four channels requantized and written */
ES_LEAF void es_dw_store4(const es_dw_dsp_params *p, const int32_t *acc, int32_t c, int8_t *out) {
  const int32_t *rq = p->rq + 4 * c;
  const int32_t off = p->out_offset, lo = p->act_min, hi = p->act_max;
  out[0] = es_clamp(es_requant_rq(acc[0], rq + 0) + off, lo, hi);
  out[1] = es_clamp(es_requant_rq(acc[1], rq + 4) + off, lo, hi);
  out[2] = es_clamp(es_requant_rq(acc[2], rq + 8) + off, lo, hi);
  out[3] = es_clamp(es_requant_rq(acc[3], rq + 12) + off, lo, hi);
}

/* `ring` (in place: `in` and `out` are one buffer, stride 1): pad_t + 1 saved input rows, as
 * es_depthwise_conv2d_m1 keeps them */
ES_FN void es_depthwise_dsp(const es_dw_dsp_params *p, const int8_t *in, int8_t *out,
                            int8_t *ring) {
  const int ch = p->ch, kh = p->k_h, kw = p->k_w, nring = p->pad_t + 1;
  const int32_t row_bytes = (int32_t)p->in_w * ch, group = 2 * kh * kw;
  const int8_t *taps[ES_DW_MAX_TAPS];
  const int8_t *rows[ES_DW_MAX_TAPS]; /* per kernel row: the input row, or 0 outside the image */
  int oy, ox, ky, kx, c, n;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    if (ring) {
      int8_t *slot = ring + (oy % nring) * row_bytes;
      const int8_t *src = in + oy * row_bytes;
      int32_t i;
      for (i = 0; i < row_bytes; ++i) slot[i] = src[i];
    }
    for (ky = 0; ky < kh; ++ky) {
      const int y = y0 + ky * p->dil_h;
      rows[ky] = 0;
      if (y >= 0 && y < p->in_h)
        rows[ky] = ring && y <= oy ? ring + (y % nring) * row_bytes : in + y * row_bytes;
    }
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int32_t *w = p->weights;
      for (n = 0, ky = 0; ky < kh; ++ky) {
        const int8_t *row = rows[ky];
        for (kx = 0; kx < kw; ++kx) {
          const int x = x0 + kx * p->dil_w;
          taps[n++] = row && x >= 0 && x < p->in_w ? row + x * ch : p->zp_row;
        }
      }
      for (c = 0; c < ch; c += 4, w += group, out += 4) {
        int32_t acc[4];
        es_dw_group(taps, n, c, w, p->bias_eff + c, acc);
        es_dw_store4(p, acc, c, out);
      }
    }
  }
}
