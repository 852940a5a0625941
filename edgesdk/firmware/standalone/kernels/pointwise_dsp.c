/* CONV_2D 1x1, stride 1, no padding, with the DSP extension: no im2col, two pixels x two output
 * channels per pass (four accumulators in registers), each input word and weight word expanded
 * once by SXTB16 and multiplied in pairs by SMLAD, requantization fused. Weights are packed at
 * generation time for channel pairs (a, b) in the order the loop reads them: per 4 inputs k..k+3
 * [a_k, b_k, a_k+2, b_k+2][a_k+1, b_k+1, a_k+3, b_k+3]; the in_c % 4 last inputs as [a_k, b_k];
 * an odd last channel is paired with zero weights. Sums are exact in int32 and addition is
 * associative modulo 2^32, so the order of the terms does not change a bit of the result. */
typedef struct {
  int16_t in_c, out_c;
  int32_t pixels, out_offset, act_min, act_max;
  const int8_t *weights;    /* packed as above: ceil(out_c / 2) * 2 * in_c bytes */
  const int32_t *bias_eff;  /* [out_c] */
  const int32_t *rq;        /* [out_c][4]: es_requant_rq's constants */
} es_pw_params;

ES_LEAF void es_pw_2x2(const int8_t *x0, const int8_t *x1, const int8_t *w, int32_t n,
                       int32_t *acc) {
  int32_t a0 = acc[0], b0 = acc[1], a1 = acc[2], b1 = acc[3]; /* channel a/b, pixel 0/1 */
  const int8_t *end = x0 + (n & ~3);
  while (x0 != end) {
    const uint32_t u = es_read32(x0), v = es_read32(x1);
    const uint32_t u_e = ES_SXTB16(u), u_o = ES_SXTB16_ROR8(u);
    const uint32_t v_e = ES_SXTB16(v), v_o = ES_SXTB16_ROR8(v);
    uint32_t wv = es_read32(w), c;
    c = ES_SXTB16(wv);
    a0 = ES_SMLAD(c, u_e, a0);
    a1 = ES_SMLAD(c, v_e, a1);
    c = ES_SXTB16_ROR8(wv);
    b0 = ES_SMLAD(c, u_e, b0);
    b1 = ES_SMLAD(c, v_e, b1);
    wv = es_read32(w + 4);
    c = ES_SXTB16(wv);
    a0 = ES_SMLAD(c, u_o, a0);
    a1 = ES_SMLAD(c, v_o, a1);
    c = ES_SXTB16_ROR8(wv);
    b0 = ES_SMLAD(c, u_o, b0);
    b1 = ES_SMLAD(c, v_o, b1);
    x0 += 4;
    x1 += 4;
    w += 8;
  }
  for (n &= 3; n > 0; --n, w += 2) {
    const int32_t u = *x0++, v = *x1++;
    a0 += u * w[0];
    b0 += u * w[1];
    a1 += v * w[0];
    b1 += v * w[1];
  }
  acc[0] = a0;
  acc[1] = b0;
  acc[2] = a1;
  acc[3] = b1;
}

ES_INLINE int8_t es_pw_out(const es_pw_params *p, int32_t acc, int oc) {
  return es_clamp(es_requant_rq(acc, p->rq + 4 * oc) + p->out_offset, p->act_min,
                  p->act_max);
}

/* `col` (in place: the input sits inside the output): 2 * in_c bytes, where the two pixels of a
 * pass are copied before their outputs overwrite them */
ES_FN void es_pointwise_dsp(const es_pw_params *p, const int8_t *in, int8_t *out, int8_t *col) {
  const int32_t ic = p->in_c, oc_n = p->out_c;
  int32_t q, oc, i;
  for (q = 0; q < p->pixels; q += 2) {
    const int two = q + 1 < p->pixels;
    const int8_t *x0 = in + q * ic;
    const int8_t *x1 = two ? x0 + ic : x0; /* a last odd pixel runs twice, written once */
    int8_t *o0 = out + q * oc_n;
    int8_t *o1 = o0 + oc_n;
    const int8_t *w = p->weights;
    if (col) {
      for (i = 0; i < ic; ++i) col[i] = x0[i];
      for (i = 0; i < ic; ++i) col[ic + i] = x1[i];
      x0 = col;
      x1 = col + ic;
    }
    for (oc = 0; oc < oc_n; oc += 2, w += 2 * ic) {
      int32_t acc[4];
      acc[0] = acc[2] = p->bias_eff[oc];
      acc[1] = acc[3] = oc + 1 < oc_n ? p->bias_eff[oc + 1] : 0;
      es_pw_2x2(x0, x1, w, ic, acc);
      o0[oc] = es_pw_out(p, acc[0], oc);
      if (two) o1[oc] = es_pw_out(p, acc[2], oc);
      if (oc + 1 < oc_n) {
        o0[oc + 1] = es_pw_out(p, acc[1], oc + 1);
        if (two) o1[oc + 1] = es_pw_out(p, acc[3], oc + 1);
      }
    }
  }
}
