/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32 (reference_ops, float32 arithmetic:
 * these ops are the model's float boundary). */
ES_FN void es_quantize_f32(const float *in, int32_t size, float scale, int32_t zp, int8_t *out) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    volatile float v = in[i] / scale;
    float f = v;
    int32_t q = INT32_MIN;
    if (f > -2147483648.0f && f < 2147483648.0f) { /* else NaN, inf or beyond int32 */
      float frac;
      q = (int32_t)f;
      frac = f - (float)q;
      if (f >= 0.0f) q += frac >= 0.5f ? 1 : 0; else q -= frac <= -0.5f ? 1 : 0;
    }
    /* beyond int32, LiteRT's static_cast<int32_t> gives INT32_MIN on the host (x86's
     * cvttss2si), then adds the zero point wrapping: the same here, without undefined
     * behaviour (+1e12 was a signed overflow, UBSan found it) */
    out[i] = es_clamp((int32_t)((uint32_t)q + (uint32_t)zp), -128, 127);
  }
}

ES_FN void es_dequantize(const int8_t *in, int32_t size, float scale, int32_t zp, float *out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = (float)(in[i] - zp) * scale;
}
