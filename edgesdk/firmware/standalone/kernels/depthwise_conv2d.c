/* DEPTHWISE_CONV_2D, int8, per-channel (reference_integer_ops::DepthwiseConvPerChannel);
 * output channel = input channel * depth_multiplier + m. Tap ranges are clipped to the image;
 * a window fully inside starts from bias_eff = bias + input_offset * sum(weights). */
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

/* first tap k with 0 <= origin + k * dilation, and one past the last with it < size */
ES_FN int es_first_tap(int origin, int dilation) {
  if (origin >= 0) return 0;
  return dilation == 1 ? -origin : (-origin + dilation - 1) / dilation; /* no division call */
}

ES_FN int es_end_tap(int origin, int dilation, int size, int k) {
  const int r = size - origin;
  const int n = r <= 0 ? 0 : (dilation == 1 ? r : (r - 1) / dilation + 1);
  return n < k ? n : k;
}

/* depth multiplier 1: channels innermost, one int32 accumulator per channel in `acc`
 * (out_c words of scratch), so every tap is a contiguous run over the channels */
ES_LEAF void es_dw_taps(const int8_t *x, const int8_t *w, int32_t n, int32_t off, int32_t *acc) {
  const int8_t *end = x + n;
#if defined(__thumb__) && !defined(__thumb2__)
  /* ARMv6-M: 4 channels per pass, immediate offsets, 9 instructions per channel */
  if (n >= 4) {
    register const int8_t *end4 __asm__("r8") = x + (n & ~3);
    register int32_t o __asm__("r9") = off;
    uint32_t v, t;
    __asm__ volatile(
        ".syntax unified\n\t"
        "1:\n\t"
#define ES_DW_TAP(K, A)                                                                     \
  "ldrb %[v], [%[x], #" #K "]\n\tsxtb %[v], %[v]\n\tadd %[v], %[o]\n\t"                   \
  "ldrb %[t], [%[w], #" #K "]\n\tsxtb %[t], %[t]\n\tmuls %[t], %[v], %[t]\n\t"             \
  "ldr %[v], [%[a], #" #A "]\n\tadds %[v], %[v], %[t]\n\tstr %[v], [%[a], #" #A "]\n\t"
        ES_DW_TAP(0, 0) ES_DW_TAP(1, 4) ES_DW_TAP(2, 8) ES_DW_TAP(3, 12)
#undef ES_DW_TAP
        "adds %[x], #4\n\t"
        "adds %[w], #4\n\t"
        "adds %[a], #16\n\t"
        "cmp %[x], %[e]\n\t"
        "bne 1b\n\t"
        : [x] "+l"(x), [w] "+l"(w), [a] "+l"(acc), [v] "=&l"(v), [t] "=&l"(t)
        : [e] "r"(end4), [o] "r"(o)
        : "cc", "memory");
  }
#endif
  if (off == 0) {
    while (x != end) *acc++ += (int32_t)*x++ * *w++;
  } else {
    while (x != end) *acc++ += ((int32_t)*x++ + off) * *w++;
  }
}

#define ES_DW_MAX_KH 16 /* taller kernels: the row is found per tap */

/* `ring` (in place: `in` and `out` are one buffer, stride 1): pad_t + 1 saved input rows; each
 * input row is saved before the output row of the same index overwrites it. */
ES_FN void es_depthwise_conv2d_m1(const es_dwconv_params *p, const int8_t *in, int8_t *out,
                                  int32_t *acc, int8_t *ring) {
  const int ch = p->out_c, kw = p->k_w, kh = p->k_h, nring = p->pad_t + 1;
  const int32_t row_bytes = (int32_t)p->in_w * ch;
  const int8_t *rows[ES_DW_MAX_KH]; /* the input row of each kernel row */
  int oy, ox, ky, kx, c;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int ys = es_first_tap(y0, p->dil_h), ye = es_end_tap(y0, p->dil_h, p->in_h, kh);
    if (ring) {
      int8_t *slot = ring + (oy % nring) * row_bytes;
      const int8_t *src = in + oy * row_bytes;
      int32_t i;
      for (i = 0; i < row_bytes; ++i) slot[i] = src[i];
    }
    if (kh <= ES_DW_MAX_KH) { /* each kernel row's input row, once per output row */
      for (ky = ys; ky < ye; ++ky) {
        const int y = y0 + ky * p->dil_h;
        rows[ky] = ring && y <= oy ? ring + (y % nring) * row_bytes : in + y * row_bytes;
      }
    }
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int xs = es_first_tap(x0, p->dil_w), xe = es_end_tap(x0, p->dil_w, p->in_w, kw);
      const int full = ys == 0 && ye == kh && xs == 0 && xe == kw;
      const int32_t *bias = full ? p->bias_eff : p->bias;
      for (c = 0; c < ch; ++c) acc[c] = bias[c];
      for (ky = ys; ky < ye; ++ky) {
        const int y = y0 + ky * p->dil_h;
        for (kx = xs; kx < xe; ++kx) {
          const int x = x0 + kx * p->dil_w;
          const int8_t *row = kh <= ES_DW_MAX_KH ? rows[ky]
                              : ring && y <= oy ? ring + (y % nring) * row_bytes
                                                : in + y * row_bytes;
          es_dw_taps(row + x * ch, p->weights + (ky * kw + kx) * ch, ch, full ? 0 : p->in_offset,
                     acc);
        }
      }
      for (c = 0; c < ch; ++c)
        *out++ = es_clamp(es_requant(acc[c], p->mult[c], p->shift[c]) + p->out_offset,
                          p->act_min, p->act_max);
    }
  }
}

/* any depth multiplier: one output channel at a time */
ES_FN void es_depthwise_conv2d(const es_dwconv_params *p, const int8_t *in, int8_t *out) {
  const int ic = p->in_c, oc_n = p->out_c, kw = p->k_w, kh = p->k_h, dm = p->depth_mult;
  const int32_t x_step = (int32_t)p->dil_w * ic, y_step = (int32_t)p->dil_h * p->in_w * ic;
  int oy, ox, oc, ky, kx;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int ys = es_first_tap(y0, p->dil_h), ye = es_end_tap(y0, p->dil_h, p->in_h, kh);
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int xs = es_first_tap(x0, p->dil_w), xe = es_end_tap(x0, p->dil_w, p->in_w, kw);
      const int full = ys == 0 && ye == kh && xs == 0 && xe == kw;
      const int32_t off = full ? 0 : p->in_offset;
      const int8_t *base = in + (((int32_t)y0 + ys * p->dil_h) * p->in_w + x0 + xs * p->dil_w) * ic;
      for (oc = 0; oc < oc_n; ++oc) {
        int32_t acc = full ? p->bias_eff[oc] : p->bias[oc];
        const int8_t *xrow = base + oc / dm;
        const int8_t *wrow = p->weights + (ys * kw + xs) * oc_n + oc;
        for (ky = ys; ky < ye; ++ky, xrow += y_step, wrow += kw * oc_n) {
          const int8_t *x = xrow;
          const int8_t *w = wrow;
          for (kx = xs; kx < xe; ++kx, x += x_step, w += oc_n) acc += ((int32_t)*x + off) * *w;
        }
        acc = es_requant(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
        *out++ = es_clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}
