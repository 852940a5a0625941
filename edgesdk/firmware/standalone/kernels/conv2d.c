/* CONV_2D, int8, per-channel (reference_integer_ops::ConvPerChannel). The reference skips taps
 * outside the image; a tap padded with the input zero point adds (zp - zp) * w = 0, so each
 * receptive field is gathered (zero-point padded) into `col` and every output channel is one
 * dot product starting from bias_eff = bias + input_offset * sum(weights of the channel). */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_zp, out_offset, act_min, act_max;
  const int8_t *weights;    /* [out_c][k_h][k_w][in_c] */
  const int32_t *bias_eff;  /* [out_c] */
  const int32_t *mult;      /* [out_c] */
  const int32_t *shift;     /* [out_c] */
} es_conv_params;

ES_LEAF int32_t es_dot(const int8_t *a, const int8_t *b, int32_t n, int32_t acc) {
  const int8_t *end = a + (n & ~3);
  while (a != end) { /* pointer-bump loop: compact code at -Os */
    acc += (int32_t)*a++ * *b++;
    acc += (int32_t)*a++ * *b++;
    acc += (int32_t)*a++ * *b++;
    acc += (int32_t)*a++ * *b++;
  }
  for (n &= 3; n > 0; --n) acc += (int32_t)*a++ * *b++;
  return acc;
}

/* two output channels at once: each input byte is loaded once for both */
ES_LEAF void es_dot2(const int8_t *x, const int8_t *w0, int32_t stride, int32_t n, int32_t *acc) {
  const int8_t *w1 = w0 + stride;
  const int8_t *end = x + (n & ~1);
  int32_t a0 = acc[0], a1 = acc[1];
  while (x != end) {
    const int32_t v0 = *x++, v1 = *x++;
    a0 += v0 * *w0++;
    a1 += v0 * *w1++;
    a0 += v1 * *w0++;
    a1 += v1 * *w1++;
  }
  if (n & 1) {
    a0 += (int32_t)*x * *w0;
    a1 += (int32_t)*x * *w1;
  }
  acc[0] = a0;
  acc[1] = a1;
}

/* `col`: k_h * k_w * in_c bytes of scratch (NULL for a 1x1 convolution without padding). */
ES_FN void es_conv2d(const es_conv_params *p, const int8_t *in, int8_t *out, int8_t *col) {
  const int ic = p->in_c, kw = p->k_w, kh = p->k_h, oc_n = p->out_c;
  const int32_t taps = (int32_t)kh * kw * ic;
  int oy, ox, oc, ky, kx, c;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int8_t *src = col;
      const int8_t *w = p->weights;
      if (!col) {
        src = in + ((int32_t)y0 * p->in_w + x0) * ic;
      } else {
        int8_t *dst = col;
        for (ky = 0; ky < kh; ++ky) {
          const int y = y0 + ky * p->dil_h;
          for (kx = 0; kx < kw; ++kx, dst += ic) {
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
      for (oc = 0; oc + 1 < oc_n; oc += 2, w += 2 * taps) {
        int32_t acc[2];
        acc[0] = p->bias_eff[oc];
        acc[1] = p->bias_eff[oc + 1];
        es_dot2(src, w, taps, taps, acc);
        *out++ = es_clamp(es_requant(acc[0], p->mult[oc], p->shift[oc]) + p->out_offset,
                          p->act_min, p->act_max);
        *out++ = es_clamp(es_requant(acc[1], p->mult[oc + 1], p->shift[oc + 1]) + p->out_offset,
                          p->act_min, p->act_max);
      }
      if (oc < oc_n) {
        const int32_t acc = es_dot(src, w, taps, p->bias_eff[oc]);
        *out++ = es_clamp(es_requant(acc, p->mult[oc], p->shift[oc]) + p->out_offset,
                          p->act_min, p->act_max);
      }
    }
  }
}

/* The same convolution without scratch memory (when the planner finds that the `col` buffer
 * would raise the peak): taps are read from the input directly; a padded tap adds
 * in_zp * w to cancel its share of bias_eff, as the zero-point-padded gather does. */
ES_FN void es_conv2d_nocol(const es_conv_params *p, const int8_t *in, int8_t *out) {
  const int ic = p->in_c, kw = p->k_w, kh = p->k_h;
  const int32_t taps = (int32_t)kh * kw * ic;
  int oy, ox, oc, ky, kx, c;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      for (oc = 0; oc < p->out_c; ++oc) {
        const int8_t *w = p->weights + oc * taps;
        int32_t acc = p->bias_eff[oc];
        for (ky = 0; ky < kh; ++ky) {
          const int y = y0 + ky * p->dil_h;
          for (kx = 0; kx < kw; ++kx, w += ic) {
            const int x = x0 + kx * p->dil_w;
            if (y < 0 || y >= p->in_h || x < 0 || x >= p->in_w) {
              for (c = 0; c < ic; ++c) acc += p->in_zp * w[c];
            } else {
              acc = es_dot(in + ((int32_t)y * p->in_w + x) * ic, w, ic, acc);
            }
          }
        }
        *out++ = es_clamp(es_requant(acc, p->mult[oc], p->shift[oc]) + p->out_offset,
                          p->act_min, p->act_max);
      }
    }
  }
}
