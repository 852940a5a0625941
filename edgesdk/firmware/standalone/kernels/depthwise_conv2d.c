/* DEPTHWISE_CONV_2D, int8, per-channel (reference_integer_ops::DepthwiseConvPerChannel);
 * output channel = input channel * depth_multiplier + m. */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, depth_mult;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *weights;    /* [k_h][k_w][out_c] */
  const int32_t *bias;
  const int32_t *bias_eff;
  const int32_t *mult;
  const int32_t *shift;
} es_dwconv_params;

ES_FN void es_depthwise_conv2d(const es_dwconv_params *p, const int8_t *in, int8_t *out) {
  const int ic = p->in_c, oc_n = p->out_c, kw = p->k_w, kh = p->k_h, dm = p->depth_mult;
  int oy, ox, oc, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int inside_y = y0 >= 0 && y0 + (kh - 1) * p->dil_h < p->in_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int inside = inside_y && x0 >= 0 && x0 + (kw - 1) * p->dil_w < p->in_w;
      for (oc = 0; oc < oc_n; ++oc) {
        const int c = oc / dm;
        int32_t acc = inside ? p->bias_eff[oc] : p->bias[oc];
        for (ky = 0; ky < kh; ++ky) {
          const int y = y0 + ky * p->dil_h;
          const int8_t *wrow = p->weights + ky * kw * oc_n + oc;
          if (inside) {
            const int8_t *xrow = in + (y * p->in_w + x0) * ic + c;
            for (kx = 0; kx < kw; ++kx) acc += (int32_t)xrow[kx * p->dil_w * ic] * wrow[kx * oc_n];
          } else if (y >= 0 && y < p->in_h) {
            for (kx = 0; kx < kw; ++kx) {
              const int x = x0 + kx * p->dil_w;
              if (x >= 0 && x < p->in_w)
                acc += ((int32_t)in[(y * p->in_w + x) * ic + c] + p->in_offset) * wrow[kx * oc_n];
            }
          }
        }
        acc = es_requant(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
        *out++ = es_clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}
