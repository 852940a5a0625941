/* FULLY_CONNECTED, int8, per-tensor or per-channel (reference_integer_ops::FullyConnected);
 * bias_eff = bias + input_offset * sum(weights of the row). Requantization with single
 * rounding, per-tensor and per-channel alike, as LiteRT's reference kernel does (TFLite Micro:
 * double rounding): double rounding was 1 LSB off on a per-tensor case of the random
 * differential run (seed 5), single rounding matched every FULLY_CONNECTED case. */
typedef struct {
  int16_t batches, in_depth, out_depth, per_channel;
  int32_t out_offset, act_min, act_max;
  const int8_t *weights;    /* [out_depth][in_depth] */
  const int32_t *bias_eff;  /* [out_depth] */
  const int32_t *mult;      /* [out_depth] or [1] */
  const int32_t *shift;
} es_fc_params;

ES_FN void es_fully_connected(const es_fc_params *p, const int8_t *in, int8_t *out) {
  int b, o, i;
  for (b = 0; b < p->batches; ++b, in += p->in_depth) {
    const int8_t *w = p->weights;
    for (o = 0; o < p->out_depth; ++o, w += p->in_depth) {
      const int q = p->per_channel ? o : 0;
      int32_t acc = p->bias_eff[o];
      for (i = 0; i < p->in_depth; ++i) acc += (int32_t)in[i] * w[i];
      acc = es_requant_single(acc, p->mult[q], p->shift[q]);
      acc += p->out_offset;
      *out++ = es_clamp(acc, p->act_min, p->act_max);
    }
  }
}
