/* MUL with the DSP kernel set: four elements a loop, (a + offset) * (b + offset) as halfword
 * lanes (SXTB16, then SADD16 with the offsets: every sum fits 16 bits), SMULBB / SMULTT, the
 * product requantized by es_requant_rq with its constants from generation time. */
typedef struct {
  int32_t size, out_offset, act_min, act_max;
  int32_t off1, off2; /* the input offsets in both halfwords */
  const int32_t *rq;  /* [4]: es_requant_rq's constants of the output multiplier */
} es_mul_dsp_params;

ES_INLINE int8_t es_mul_out(int32_t prod, const int32_t *rq, int32_t off, int32_t lo, int32_t hi) {
  return es_clamp(es_requant_rq(prod, rq) + off, lo, hi);
}

ES_FN void es_mul_dsp(const es_mul_dsp_params *p, const int8_t *a, const int8_t *b, int8_t *out) {
  const int32_t *rq = p->rq, off = p->out_offset, lo = p->act_min, hi = p->act_max;
  const uint32_t o1 = (uint32_t)p->off1, o2 = (uint32_t)p->off2;
  int32_t n = p->size;
  for (; n >= 4; n -= 4, a += 4, b += 4, out += 4) {
    const uint32_t x = es_read32(a), y = es_read32(b);
    const uint32_t xe = ES_SADD16(ES_SXTB16(x), o1), xo = ES_SADD16(ES_SXTB16_ROR8(x), o1);
    const uint32_t ye = ES_SADD16(ES_SXTB16(y), o2), yo = ES_SADD16(ES_SXTB16_ROR8(y), o2);
    out[0] = es_mul_out(ES_SMULBB(xe, ye), rq, off, lo, hi);
    out[1] = es_mul_out(ES_SMULBB(xo, yo), rq, off, lo, hi);
    out[2] = es_mul_out(ES_SMULTT(xe, ye), rq, off, lo, hi);
    out[3] = es_mul_out(ES_SMULTT(xo, yo), rq, off, lo, hi);
  }
  for (; n > 0; --n) {
    const int32_t prod = (*a++ + (int32_t)(int16_t)o1) * (*b++ + (int32_t)(int16_t)o2);
    *out++ = es_mul_out(prod, rq, off, lo, hi);
  }
}
