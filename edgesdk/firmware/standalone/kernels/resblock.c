/* A residual block x -> CONV_2D -> CONV_2D -> ADD(x, .) run output row by output row (fuse.py
 * forms it: both convolutions stride 1 and SAME, the intermediates used nowhere else). The
 * block's RAM is x plus `scratch`: a window of the first convolution's output rows (k_h of the
 * second), one row of the second's and the gather buffer; the arithmetic is es_conv2d's and
 * es_add's own, called on one output row (out_h 1, the padding moved by the row). Output row r
 * may be written over x row r: every row of the first convolution that reads it (up to r +
 * pad_t of the first, fuse.py checks) is computed before. */
ES_FN void es_rb_window(int8_t *ring, int32_t row1, int32_t n) {
  int32_t i;
  for (i = 0; i < (n - 1) * row1; ++i) ring[i] = ring[i + row1]; /* drop the oldest row */
}

ES_FN void es_resblock(const es_conv_params *c1, const es_conv_params *c2, const es_add_params *ad,
                       int32_t x_first, const int8_t *x, int8_t *out, int8_t *scratch) {
  const int32_t h = c2->out_h, row1 = (int32_t)c1->out_w * c1->out_c;
  const int32_t row = (int32_t)c2->out_w * c2->out_c;
  int8_t *ring = scratch, *acc = scratch + ((c2->k_h * row1 + 3) & ~3);
  int8_t *col = acc + ((row + 3) & ~3);
  es_conv_params q1 = *c1, q2 = *c2;
  es_add_params qa = *ad;
  int32_t lo = 0, n = 0, r;
  q1.out_h = 1;
  q2.out_h = 1;
  qa.size = row;
  for (r = 0; r < h; ++r) {
    const int32_t want_lo = r - c2->pad_t < 0 ? 0 : r - c2->pad_t;
    const int32_t want_hi = r - c2->pad_t + c2->k_h > h ? h : r - c2->pad_t + c2->k_h;
    for (; lo < want_lo; ++lo, --n) es_rb_window(ring, row1, n);
    for (; lo + n < want_hi; ++n) { /* row lo + n of the first convolution */
      q1.pad_t = (int16_t)(c1->pad_t - (lo + n));
      es_conv2d(&q1, x, ring + n * row1, col);
    }
    q2.in_h = (int16_t)n; /* rows lo .. lo + n - 1 of the first convolution's output */
    q2.pad_t = (int16_t)(c2->pad_t - r + lo);
    es_conv2d(&q2, ring, acc, col);
    if (x_first) {
      es_add(&qa, x + r * row, acc, out + r * row);
    } else {
      es_add(&qa, acc, x + r * row, out + r * row);
    }
  }
}
