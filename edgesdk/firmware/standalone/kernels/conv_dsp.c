/* CONV_2D (any kernel size, stride, dilation, padding) with the DSP extension: the receptive
 * fields of two output pixels are gathered (zero-point padded) into `col` (2 * k_h * k_w * in_c
 * bytes) and multiplied by two output channels at a time with es_pw_2x2 (pointwise_dsp.c), the
 * weights packed for it as [out_c][k_h][k_w][in_c] rows; requantization fused. */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_zp, out_offset, act_min, act_max;
  const int8_t *weights;    /* packed as es_pw_2x2 reads them, in_c = k_h * k_w * in_c */
  const int32_t *bias_eff;  /* [out_c] */
  const int32_t *rq;        /* [out_c][4]: es_requant_rq's constants */
} es_conv_dsp_params;

ES_FN void es_conv_dsp_gather(const es_conv_dsp_params *p, const int8_t *in, int8_t *dst,
                              int oy, int ox) {
  const int ic = p->in_c, y0 = oy * p->stride_h - p->pad_t, x0 = ox * p->stride_w - p->pad_l;
  int ky, kx, c;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int y = y0 + ky * p->dil_h;
    for (kx = 0; kx < p->k_w; ++kx, dst += ic) {
      const int x = x0 + kx * p->dil_w;
      if (y < 0 || y >= p->in_h || x < 0 || x >= p->in_w) {
        for (c = 0; c < ic; ++c) dst[c] = (int8_t)p->in_zp;
      } else {
        const int8_t *s = in + ((int32_t)y * p->in_w + x) * ic;
        for (c = 0; c < ic; ++c) dst[c] = s[c];
      }
    }
  }
}

ES_INLINE int8_t es_conv_dsp_out(const es_conv_dsp_params *p, int32_t acc, int oc) {
  return es_clamp(es_requant_rq(acc, p->rq + 4 * oc) + p->out_offset, p->act_min,
                  p->act_max);
}

ES_FN void es_conv_dsp(const es_conv_dsp_params *p, const int8_t *in, int8_t *out, int8_t *col) {
  const int32_t taps = (int32_t)p->k_h * p->k_w * p->in_c, oc_n = p->out_c;
  const int32_t pixels = (int32_t)p->out_h * p->out_w;
  int32_t q, oc;
  int oy = 0, ox = 0;
  for (q = 0; q < pixels; q += 2) {
    const int two = q + 1 < pixels;
    int8_t *o0 = out + q * oc_n;
    int8_t *o1 = o0 + oc_n;
    const int8_t *w = p->weights;
    es_conv_dsp_gather(p, in, col, oy, ox);
    if (++ox == p->out_w) ox = 0, ++oy;
    if (two) {
      es_conv_dsp_gather(p, in, col + taps, oy, ox);
      if (++ox == p->out_w) ox = 0, ++oy;
    }
    for (oc = 0; oc < oc_n; oc += 2, w += 2 * taps) {
      int32_t acc[4];
      acc[0] = acc[2] = p->bias_eff[oc];
      acc[1] = acc[3] = oc + 1 < oc_n ? p->bias_eff[oc + 1] : 0;
      es_pw_2x2(col, two ? col + taps : col, w, taps, acc);
      o0[oc] = es_conv_dsp_out(p, acc[0], oc);
      if (two) o1[oc] = es_conv_dsp_out(p, acc[2], oc);
      if (oc + 1 < oc_n) {
        o0[oc + 1] = es_conv_dsp_out(p, acc[1], oc + 1);
        if (two) o1[oc + 1] = es_conv_dsp_out(p, acc[3], oc + 1);
      }
    }
  }
}
