/* PAD / PADV2 over H and W, int8: the pad value is the output zero point (or PADV2's value). */
typedef struct {
  int16_t in_h, in_w, ch, out_h, out_w, top, left;
  int8_t value;
} es_pad_params;

ES_FN void es_pad(const es_pad_params *p, const int8_t *in, int8_t *out) {
  int y, x, c;
  for (y = 0; y < p->out_h; ++y)
    for (x = 0; x < p->out_w; ++x) {
      const int iy = y - p->top, ix = x - p->left;
      const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
      const int8_t *src = in + (iy * p->in_w + ix) * p->ch;
      for (c = 0; c < p->ch; ++c) *out++ = inside ? src[c] : p->value;
    }
}
