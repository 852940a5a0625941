/* AVERAGE_POOL_2D and MEAN with the DSP kernel set, channels four at a time: one word of input
 * per pixel into two halfword-lane sums (SXTB16, SADD16; 256 int8 values at most per lane, so a
 * lane cannot overflow), then es_pool2d's / es_mean's arithmetic per channel. */
ES_INLINE void es_sum4(const int8_t *x, int32_t n, int32_t step, int32_t *s) {
  while (n > 0) {
    const int32_t m = n < 256 ? n : 256;
    const int8_t *end = x + m * step;
    uint32_t e = 0, o = 0;
    for (; x != end; x += step) {
      const uint32_t v = es_read32(x);
      e = ES_SADD16(e, ES_SXTB16(v));
      o = ES_SADD16(o, ES_SXTB16_ROR8(v));
    }
    s[0] += (int16_t)(e & 0xffffu);
    s[2] += (int16_t)(e >> 16);
    s[1] += (int16_t)(o & 0xffffu);
    s[3] += (int16_t)(o >> 16);
    n -= m;
  }
}

/* AVERAGE_POOL_2D (es_pool2d's rounding), channels a multiple of 4 */
ES_FN void es_avgpool_dsp(const es_pool_params *p, const int8_t *in, int8_t *out) {
  const int ch = p->ch;
  int oy, ox, c, y, j;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int ys = y0 < 0 ? -y0 : 0;
    const int ye = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int xs = x0 < 0 ? -x0 : 0;
      const int xe = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
      const int count = (ye - ys) * (xe - xs);
      for (c = 0; c < ch; c += 4, out += 4) {
        int32_t s[4] = {0, 0, 0, 0};
        for (y = ys; y < ye; ++y)
          es_sum4(in + (((int32_t)y0 + y) * p->in_w + x0 + xs) * ch + c, xe - xs, ch, s);
        for (j = 0; j < 4; ++j) {
          const int32_t acc = s[j] > 0 ? (s[j] + count / 2) / count : (s[j] - count / 2) / count;
          out[j] = es_clamp(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* MEAN over H and W (es_mean's arithmetic): four channels at a time, the rest one by one */
ES_FN void es_mean_dsp(const es_mean_params *p, const int8_t *in, int8_t *out) {
  const int32_t n = (int32_t)p->in_h * p->in_w, zsum = p->in_zp * n;
  int c, i, j;
  for (c = 0; c + 4 <= p->ch; c += 4) {
    int32_t s[4] = {0, 0, 0, 0};
    es_sum4(in + c, n, p->ch, s);
    for (j = 0; j < 4; ++j)
      out[c + j] = es_clamp(es_requant(s[j] - zsum, p->mult, p->shift) + p->out_zp, -128, 127);
  }
  for (; c < p->ch; ++c) {
    int32_t sum = 0;
    for (i = 0; i < n; ++i) sum += in[i * p->ch + c];
    out[c] = es_clamp(es_requant(sum - zsum, p->mult, p->shift) + p->out_zp, -128, 127);
  }
}
