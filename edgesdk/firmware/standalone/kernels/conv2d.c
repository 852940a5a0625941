/* CONV_2D, int8, per-channel (reference_integer_ops::ConvPerChannel). Inside the image the
 * input offset is folded into bias_eff = bias + input_offset * sum(weights of the channel). */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_offset, out_offset, act_min, act_max;
  const int8_t *weights;    /* [out_c][k_h][k_w][in_c] */
  const int32_t *bias;      /* [out_c] */
  const int32_t *bias_eff;  /* [out_c] */
  const int32_t *mult;      /* [out_c] */
  const int32_t *shift;     /* [out_c] */
} es_conv_params;

ES_FN void es_conv2d(const es_conv_params *p, const int8_t *in, int8_t *out) {
  const int ic = p->in_c, kw = p->k_w, kh = p->k_h;
  const int taps = kh * kw * ic;
  int oy, ox, oc, ky, kx, c;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int inside_y = y0 >= 0 && y0 + (kh - 1) * p->dil_h < p->in_h;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int inside = inside_y && x0 >= 0 && x0 + (kw - 1) * p->dil_w < p->in_w;
      const int8_t *w = p->weights;
      for (oc = 0; oc < p->out_c; ++oc, w += taps) {
        int32_t acc;
        if (inside) {
          acc = p->bias_eff[oc];
          if (p->dil_w == 1) {
            const int8_t *wq = w;
            for (ky = 0; ky < kh; ++ky) {
              const int8_t *x = in + ((y0 + ky * p->dil_h) * p->in_w + x0) * ic;
              for (c = 0; c < kw * ic; ++c) acc += (int32_t)x[c] * wq[c];
              wq += kw * ic;
            }
          } else {
            for (ky = 0; ky < kh; ++ky)
              for (kx = 0; kx < kw; ++kx) {
                const int8_t *x = in + ((y0 + ky * p->dil_h) * p->in_w + x0 + kx * p->dil_w) * ic;
                const int8_t *wq = w + (ky * kw + kx) * ic;
                for (c = 0; c < ic; ++c) acc += (int32_t)x[c] * wq[c];
              }
          }
        } else {
          acc = p->bias[oc];
          for (ky = 0; ky < kh; ++ky) {
            const int y = y0 + ky * p->dil_h;
            if (y < 0 || y >= p->in_h) continue;
            for (kx = 0; kx < kw; ++kx) {
              const int x = x0 + kx * p->dil_w;
              const int8_t *xp;
              const int8_t *wq;
              if (x < 0 || x >= p->in_w) continue;
              xp = in + (y * p->in_w + x) * ic;
              wq = w + (ky * kw + kx) * ic;
              for (c = 0; c < ic; ++c) acc += ((int32_t)xp[c] + p->in_offset) * wq[c];
            }
          }
        }
        acc = es_requant(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
        *out++ = es_clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}
