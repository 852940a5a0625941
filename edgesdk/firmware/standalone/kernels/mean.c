/* MEAN over H and W, int8, as LiteRT's reference kernel (QuantizedMeanOrSum /
 * reference_integer_ops::Mean, all integer, also when input and output share their
 * quantization): the sum less the zero points, times in_scale / out_scale / count folded into
 * one multiplier. */
typedef struct {
  int16_t in_h, in_w, ch;
  int32_t in_zp, out_zp, mult, shift;
} es_mean_params;

ES_FN void es_mean(const es_mean_params *p, const int8_t *in, int8_t *out) {
  const int32_t n = (int32_t)p->in_h * p->in_w;
  int c, i;
  for (c = 0; c < p->ch; ++c) {
    int32_t sum = 0;
    for (i = 0; i < n; ++i) sum += in[i * p->ch + c];
    out[c] = es_clamp(es_requant(sum - p->in_zp * n, p->mult, p->shift) + p->out_zp, -128, 127);
  }
}
