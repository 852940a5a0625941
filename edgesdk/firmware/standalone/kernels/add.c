/* ADD, int8, same shapes (reference_integer_ops::Add, left shift 20). */
typedef struct {
  int32_t size, in1_offset, in2_offset, out_offset, left_shift;
  int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift, act_min, act_max;
} es_add_params;

ES_FN void es_add(const es_add_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = (int32_t)((uint32_t)(a[i] + p->in1_offset) << p->left_shift);
    const int32_t y = (int32_t)((uint32_t)(b[i] + p->in2_offset) << p->left_shift);
    const int32_t sum = es_requant(x, p->in1_mult, p->in1_shift) + es_requant(y, p->in2_mult, p->in2_shift);
    out[i] = es_clamp(es_requant(sum, p->out_mult, p->out_shift) + p->out_offset, p->act_min, p->act_max);
  }
}
