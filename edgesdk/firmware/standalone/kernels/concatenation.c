/* CONCATENATION, int8, inputs quantized as the output: copies of contiguous blocks. */
ES_FN void es_concat(const int8_t *const *ins, const int32_t *widths, int32_t n, int32_t outer,
                      int8_t *out) {
  int32_t o, k, i;
  for (o = 0; o < outer; ++o)
    for (k = 0; k < n; ++k) {
      const int8_t *src = ins[k] + o * widths[k];
      for (i = 0; i < widths[k]; ++i) *out++ = src[i];
    }
}
