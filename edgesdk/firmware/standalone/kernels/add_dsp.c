/* ADD with the DSP kernel set: es_add's tables, the output requantized by es_requant_rq with
 * its constants from generation time. */
typedef struct {
  int32_t size, out_offset, act_min, act_max;
  const int32_t *table1; /* [256] as es_add_params */
  const int32_t *table2;
  const int32_t *rq; /* [4]: es_requant_rq's constants of the output multiplier */
} es_add_dsp_params;

ES_FN void es_add_dsp(const es_add_dsp_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *t1 = p->table1 + 128, *t2 = p->table2 + 128, *rq = p->rq;
  const int32_t off = p->out_offset, lo = p->act_min, hi = p->act_max;
  const int8_t *end = a + p->size;
  while (a != end) *out++ = es_clamp(es_requant_rq(t1[*a++] + t2[*b++], rq) + off, lo, hi);
}
