/* FULLY_CONNECTED with the DSP extension: one input row x two output channels per pass, the
 * weights packed as for es_pw_2x2 (pointwise_dsp.c: channel pairs, SXTB16 order), SMLAD on
 * pairs; requantization with single rounding as fully_connected.c (LiteRT's reference). */
typedef struct {
  int16_t batches, in_depth, out_depth, per_channel;
  int32_t out_offset, act_min, act_max;
  const int8_t *weights;    /* packed: ceil(out_depth / 2) * 2 * in_depth bytes */
  const int32_t *bias_eff;  /* [out_depth] */
  const int32_t *mult;      /* [out_depth] or [1] */
  const int32_t *shift;
} es_fc_dsp_params;

ES_LEAF void es_fc_1x2(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc) {
  int32_t a = acc[0], b = acc[1];
  const int8_t *end = x + (n & ~3);
  while (x != end) {
    const uint32_t u = es_read32(x);
    const uint32_t u_e = ES_SXTB16(u), u_o = ES_SXTB16_ROR8(u);
    const uint32_t w0 = es_read32(w), w1 = es_read32(w + 4);
    a = ES_SMLAD(ES_SXTB16(w0), u_e, a);
    b = ES_SMLAD(ES_SXTB16_ROR8(w0), u_e, b);
    a = ES_SMLAD(ES_SXTB16(w1), u_o, a);
    b = ES_SMLAD(ES_SXTB16_ROR8(w1), u_o, b);
    x += 4;
    w += 8;
  }
  for (n &= 3; n > 0; --n, w += 2) {
    const int32_t u = *x++;
    a += u * w[0];
    b += u * w[1];
  }
  acc[0] = a;
  acc[1] = b;
}

ES_INLINE int8_t es_fc_dsp_out(const es_fc_dsp_params *p, int32_t acc, int o) {
  const int q = p->per_channel ? o : 0;
  return es_clamp(es_requant_single(acc, p->mult[q], p->shift[q]) + p->out_offset, p->act_min,
                  p->act_max);
}

ES_FN void es_fully_connected_dsp(const es_fc_dsp_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->in_depth, n_out = p->out_depth;
  int32_t b, o;
  for (b = 0; b < p->batches; ++b, in += depth) {
    const int8_t *w = p->weights;
    for (o = 0; o < n_out; o += 2, w += 2 * depth) {
      int32_t acc[2];
      acc[0] = p->bias_eff[o];
      acc[1] = o + 1 < n_out ? p->bias_eff[o + 1] : 0;
      es_fc_1x2(in, w, depth, acc);
      *out++ = es_fc_dsp_out(p, acc[0], o);
      if (o + 1 < n_out) *out++ = es_fc_dsp_out(p, acc[1], o + 1);
    }
  }
}
