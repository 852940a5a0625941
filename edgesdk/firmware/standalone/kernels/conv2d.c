/* CONV_2D, int8, per-channel (reference_integer_ops::ConvPerChannel). The reference skips taps
 * outside the image; a tap padded with the input zero point adds (zp - zp) * w = 0, so each
 * receptive field is gathered (zero-point padded) into `col` and every output channel is one
 * dot product starting from bias_eff = bias + input_offset * sum(weights of the channel).
 * 8 output channels per pass (es_rows / es_mac8, kernels/common.c), weights packed by
 * portable.py as [ceil(out_c / 8)][k_h][k_w][in_c][8] bytes w + 128. */
typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
  int16_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l;
  int32_t in_zp, out_offset, act_min, act_max;
  const uint8_t *weights;   /* packed, see above */
  const int32_t *bias_eff;  /* [out_c rounded up to 8] */
  const int32_t *mult;      /* [out_c] */
  const int32_t *shift;     /* [out_c] */
  const int8_t *zp_row;     /* k_w * in_c bytes of in_zp (the taps of the padding) */
} es_conv_params;

ES_FN void es_conv_rq(const es_conv_params *p, es_rows_rq *q) {
  q->bias_eff = p->bias_eff;
  q->mult = p->mult;
  q->shift = p->shift;
  q->rows = p->out_c;
  q->qstep = 1;
  q->single = 0;
  q->out_offset = p->out_offset;
  q->act_min = p->act_min;
  q->act_max = p->act_max;
}

/* one receptive field into `col`, the padding as the input zero point */
ES_FN void es_conv_gather(const es_conv_params *p, const int8_t *in, int y0, int x0, int8_t *dst) {
  const int ic = p->in_c;
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

/* `col`: k_h * k_w * in_c bytes of scratch (NULL for a 1x1 convolution without padding). */
ES_FN void es_conv2d(const es_conv_params *p, const int8_t *in, int8_t *out, int8_t *col) {
  const int ic = p->in_c, kw = p->k_w, kh = p->k_h;
  const int32_t taps = (int32_t)kh * kw * ic;
  int oy, ox;
  es_rows_rq q;
  es_conv_rq(p, &q);
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int8_t *src = col;
      if (!col) {
        src = in + ((int32_t)y0 * p->in_w + x0) * ic;
      } else {
        es_conv_gather(p, in, y0, x0, col);
      }
      out = es_rows(&q, src, taps, p->weights, out);
    }
  }
}

/* The taps of one receptive field as contiguous runs (input rows, or zp_row for the padding):
 * with `acc`, 8 output channels accumulate over them (w: the group's packed weights); without,
 * their sum is added to *sum. */
ES_FN void es_conv_runs(const es_conv_params *p, const int8_t *in, int y0, int x0,
                        const uint8_t *w, uint32_t *acc, int32_t *sum) {
  const int ic = p->in_c, kw = p->k_w, kh = p->k_h;
  int ky, kx;
  for (ky = 0; ky < kh; ++ky, w += ES_G * kw * ic) {
    const int y = y0 + ky * p->dil_h;
    const int8_t *row = in + (int32_t)y * p->in_w * ic;
    int xs = 0, xe = 0;
    if (y >= 0 && y < p->in_h) {
      for (xs = 0; xs < kw && x0 + xs * p->dil_w < 0; ++xs) {}
      for (xe = kw; xe > xs && x0 + (xe - 1) * p->dil_w >= p->in_w; --xe) {}
    }
    for (kx = 0; kx < kw;) {
      const int8_t *s;
      int n;
      if (kx < xs || kx >= xe) {  /* padding up to the next valid tap or the end */
        const int stop = kx < xs ? xs : kw;
        s = p->zp_row;
        n = stop - kx;
      } else if (p->dil_w == 1) {
        s = row + (int32_t)(x0 + kx) * ic;
        n = xe - kx;
      } else {
        s = row + (int32_t)(x0 + kx * p->dil_w) * ic;
        n = 1;
      }
      if (acc) {
        es_mac8(s, w + ES_G * kx * ic, (int32_t)n * ic, acc);
      } else {
        *sum += es_sum8(s, (int32_t)n * ic);
      }
      kx += n;
    }
  }
}

/* The same convolution without scratch memory (when the planner finds that the `col` buffer
 * would raise the peak): the receptive field is gathered into the end of the output tensor,
 * not written yet (the op never runs in place here), while the pixel's outputs stay below it;
 * the last pixels read their taps in runs from the input (padding from zp_row). */
ES_FN void es_conv2d_nocol(const es_conv_params *p, const int8_t *in, int8_t *out) {
  const int32_t taps = (int32_t)p->k_h * p->k_w * p->in_c;
  const int32_t col_at = (int32_t)p->out_h * p->out_w * p->out_c - taps; /* may be < 0 */
  int8_t *const col = col_at >= 0 ? out + col_at : out;
  int32_t written = 0;
  int oy, ox;
  int32_t o;
  es_rows_rq q;
  es_conv_rq(p, &q);
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const uint8_t *w = p->weights;
      int32_t sum = 0;
      uint32_t corr;
      written += p->out_c;
      if (written <= col_at) {
        es_conv_gather(p, in, y0, x0, col);
        out = es_rows(&q, col, taps, w, out);
        continue;
      }
      es_conv_runs(p, in, y0, x0, w, 0, &sum);
      corr = 128u * (uint32_t)sum;
      for (o = 0; o < p->out_c; o += ES_G, w += ES_G * taps) {
        uint32_t acc[ES_G];
        int k;
        for (k = 0; k < ES_G; ++k) acc[k] = (uint32_t)p->bias_eff[o + k] - corr;
        es_conv_runs(p, in, y0, x0, w, acc, 0);
        out = es_store(&q, o, acc, out);
      }
    }
  }
}
