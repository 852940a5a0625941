/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32 (reference_ops, float32 arithmetic:
 * these ops are the model's float boundary). */
ES_FN void es_quantize_f32(const float *in, int32_t size, float scale, int32_t zp, int8_t *out) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    volatile float v = in[i] / scale;
    float f = v;
    int32_t q = (int32_t)f;
    float frac = f - (float)q;
    if (f >= 0.0f) q += frac >= 0.5f ? 1 : 0; else q -= frac <= -0.5f ? 1 : 0;
    out[i] = es_clamp(q + zp, -128, 127);
  }
}

ES_FN void es_dequantize(const int8_t *in, int32_t size, float scale, int32_t zp, float *out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (float)(in[i] - zp) * scale;
}
