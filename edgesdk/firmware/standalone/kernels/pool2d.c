/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 (reference_integer_ops::AveragePool / MaxPool):
 * windows clipped to the image, average rounded half away from zero. */
typedef struct {
  int16_t in_h, in_w, ch, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_t, pad_l;
  int32_t act_min, act_max;
} es_pool_params;

ES_FN void es_pool2d(const es_pool_params *p, const int8_t *in, int8_t *out, int is_max) {
  int oy, ox, c, y, x;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_t;
    const int ys = y0 < 0 ? -y0 : 0;
    const int ye = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
    for (ox = 0; ox < p->out_w; ++ox) {
      const int x0 = ox * p->stride_w - p->pad_l;
      const int xs = x0 < 0 ? -x0 : 0;
      const int xe = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
      const int count = (ye - ys) * (xe - xs);
      for (c = 0; c < p->ch; ++c) {
        int32_t acc = is_max ? -128 : 0;
        for (y = ys; y < ye; ++y) {
          const int8_t *row = in + ((y0 + y) * p->in_w + x0) * p->ch + c;
          for (x = xs; x < xe; ++x) {
            const int32_t v = row[x * p->ch];
            if (is_max) {
              if (v > acc) acc = v;
            } else {
              acc += v;
            }
          }
        }
        if (!is_max) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        *out++ = es_clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}
