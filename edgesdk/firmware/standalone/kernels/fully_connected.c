/* FULLY_CONNECTED, int8, per-tensor or per-channel (reference_integer_ops::FullyConnected);
 * bias_eff = bias + input_offset * sum(weights of the row). Requantization with single
 * rounding, per-tensor and per-channel alike, as LiteRT's reference kernel does (TFLite Micro:
 * double rounding): double rounding was 1 LSB off on a per-tensor case of the random
 * differential run (seed 5), single rounding matched every FULLY_CONNECTED case.
 * 8 rows per pass (es_rows, kernels/common.c), weights packed by portable.py. */
typedef struct {
  int16_t batches, in_depth, out_depth, per_channel;
  int32_t out_offset, act_min, act_max;
  const uint8_t *weights;   /* [ceil(out_depth / 8)][in_depth][8], w + 128 */
  const int32_t *bias_eff;  /* [out_depth rounded up to 8] */
  const int32_t *mult;      /* [out_depth] or [1] */
  const int32_t *shift;
} es_fc_params;

ES_FN void es_fully_connected(const es_fc_params *p, const int8_t *in, int8_t *out) {
  es_rows_rq q;
  int b;
  q.bias_eff = p->bias_eff;
  q.mult = p->mult;
  q.shift = p->shift;
  q.rows = p->out_depth;
  q.qstep = p->per_channel ? 1 : 0;
  q.single = 1;
  q.out_offset = p->out_offset;
  q.act_min = p->act_min;
  q.act_max = p->act_max;
  for (b = 0; b < p->batches; ++b, in += p->in_depth) out = es_rows(&q, in, p->in_depth, p->weights, out);
}
