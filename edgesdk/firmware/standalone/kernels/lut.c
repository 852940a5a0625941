/* Element-wise int8 -> int8 through a 256-entry table (LOGISTIC, int8 QUANTIZE): the generator
 * fills the table by running LiteRT's reference kernel on all 256 inputs. */
ES_FN void es_lut(const int8_t *table, int32_t size, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = table[(uint8_t)((int32_t)in[i] + 128)];
}
