/* CONV_2D (any kernel size, stride, dilation, padding) with the DSP extension: the receptive
 * field of one output pixel is gathered (zero-point padded) into `col` + 2 * taps (taps = k_h *
 * k_w * in_c bytes), expanded to `col` (es_pw_expand: 2 * taps bytes, word aligned) and
 * multiplied as a 1x1 convolution of k_h * k_w * in_c inputs would be: es_pw_groups
 * (pointwise_dsp.c, four channels a pass, the weights widened to halfword pairs at generation
 * time, dsp.pack_pointwise16), then es_requant_row (dsp.c). */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_zp, out_offset, act_min, act_max;
  int32_t rq_fast;          /* every channel's requantization constants have the fast form */
  const int32_t *weights;   /* packed as es_pw_groups reads them (bias words included), in_c =
                               k_h * k_w * in_c */
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

ES_FN void es_conv_dsp(const es_conv_dsp_params *p, const int8_t *in, int8_t *out, int8_t *col) {
  const int32_t taps = (int32_t)p->k_h * p->k_w * p->in_c, oc_n = p->out_c;
  const uint32_t lo4 = es_bytes4(p->act_min), hi4 = es_bytes4(p->act_max);
  int32_t acc[ES_PW_CHUNK];
  int32_t oc0;
  int oy, ox;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox, out += oc_n) {
      const int32_t *w = p->weights;
      es_conv_dsp_gather(p, in, col + 2 * taps, oy, ox);
      es_pw_expand(col + 2 * taps, taps, col);
      for (oc0 = 0; oc0 < oc_n; oc0 += ES_PW_CHUNK) {
        const int32_t count = oc_n - oc0 < ES_PW_CHUNK ? oc_n - oc0 : ES_PW_CHUNK;
        w = es_pw_groups(col, w, taps, acc, (count + 3) >> 2);
        es_requant_row(acc, p->rq + 4 * oc0, count, p->out_offset, lo4, hi4, p->rq_fast,
                       out + oc0);
      }
    }
  }
}
