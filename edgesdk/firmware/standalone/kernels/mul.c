/* MUL, int8, same shapes (reference_integer_ops::Mul). */
typedef struct {
  int32_t size, in1_offset, in2_offset, out_offset, out_mult, out_shift, act_min, act_max;
} es_mul_params;

ES_FN void es_mul(const es_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t prod = (a[i] + p->in1_offset) * (b[i] + p->in2_offset);
    out[i] = es_clamp(es_requant(prod, p->out_mult, p->out_shift) + p->out_offset, p->act_min, p->act_max);
  }
}
