/* SOFTMAX, int8 -> int8, with a float table (as optimized_ops::Softmax with the table of
 * PopulateSoftmaxLookupTable): the table is computed by the generator, the normalisation is
 * float32. Only the fallback for a softmax the fixed-point kernel (softmax_fixed.c, the default,
 * bit-exact with BUILTIN_REF and TFLite Micro) cannot run: this one can be 1 LSB off. */
typedef struct {
  int32_t rows, depth, out_zp;
  float out_scale;
  const float *table;  /* [256]: table[255 - v] = expf(-input_scale * beta * v) */
} es_softmax_params;

ES_FN void es_softmax(const es_softmax_params *p, const int8_t *in, int8_t *out) {
  int32_t r, j;
  for (r = 0; r < p->rows; ++r, in += p->depth, out += p->depth) {
    int32_t max = -128;
    volatile float sum = 0.0f;
    float inv;
    const float *t;
    for (j = 0; j < p->depth; ++j)
      if (in[j] > max) max = in[j];
    t = p->table + 255 - max;
    for (j = 0; j < p->depth; ++j) sum = sum + t[in[j]];
    inv = 1.0f / (sum * p->out_scale);
    for (j = 0; j < p->depth; ++j) {
      volatile float prob = t[in[j]] * inv;
      const float pr = prob;
      int32_t q = (int32_t)pr;  /* std::round for pr >= 0: exact */
      if (pr - (float)q >= 0.5f) ++q;
      out[j] = es_clamp(q + p->out_zp, -128, 127);
    }
  }
}
