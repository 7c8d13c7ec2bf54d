/* edgeq: FULLY_CONNECTED's Helium body, included by fully_connected.c: edgeq_fully_connected_s8 takes it on
 * cores with MVE (EDGEQ_MVE) when the lowering (--cpu mve) gives it the plain int8 matrix weights_s8.
 *
 * Four rows per pass share each input vector: acc = bias[o] + sum x * w[o] (the input offset folded into bias
 * at generation time, as for the row-pair kernel) by edgeq_mve_dot4 (VMLADAVA.S8 over 16 int8 lanes, a
 * tail-predicated loop), then requantized in the op's rounding flavour: four at a time where MVE does it
 * exactly (double rounding: edgeq_mve_requant_double; single rounding with one negative shift, LiteRT's usual
 * case: edgeq_mve_requant_single_neg), else each by edgeq_requant_clamp. A
 * last partial group of four is the group ending at max(out_features, 4) (its first rows are computed and
 * stored twice, with the same values; rows past out_features are zero rows that are not stored). */
#ifndef EDGEQ_FULLY_CONNECTED_MVE_H
#define EDGEQ_FULLY_CONNECTED_MVE_H
#include "fully_connected.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
static void fc_mve(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_f = p->in_features, out_f = p->out_features, rows = edgeq_max_i32(out_f, 4);
  const int32_t pc = p->per_channel, single = p->rq.rounding == EDGEQ_ROUND_SINGLE;
  const int32_t vec = !single || (!pc && p->shift[0] < 0);
  const int32x4_t out_off = vdupq_n_s32(p->rq.output_offset);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  int32_t b, j, k;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (size_t)b * (size_t)in_f;
    int8_t *y = out + (size_t)b * (size_t)out_f;
    for (j = 0; j < out_f; j += 4) {
      const int32_t g = edgeq_min_i32(j, rows - 4);
      const int32_t n = edgeq_min_i32(4, out_f - g);
      int32_t acc[4];
      edgeq_mve_dot4(x, p->weights_s8 + (size_t)g * (size_t)in_f, in_f, in_f, p->bias + g, acc);
      if (vec) {
        int32x4_t v = vld1q_s32(acc);
        if (single)
          v = edgeq_mve_requant_single_neg(v, p->mult[0], p->shift[0]);
        else
          v = edgeq_mve_requant_double(v, pc ? vldrwq_z_s32(p->mult + g, vctp32q((uint32_t)n)) : vdupq_n_s32(p->mult[0]),
                                       pc ? vldrwq_z_s32(p->shift + g, vctp32q((uint32_t)n)) : vdupq_n_s32(p->shift[0]));
        v = vminq_s32(vmaxq_s32(vaddq_s32(v, out_off), lo), hi);
        vstrbq_p_s32(y + g, v, vctp32q((uint32_t)n));
        continue;
      }
      for (k = 0; k < n; ++k) {
        const int32_t c = pc ? g + k : 0;
        y[g + k] = (int8_t)edgeq_requant_clamp(&p->rq, acc[k], p->mult[c], p->shift[c]);
      }
    }
  }
}
#endif

#endif /* EDGEQ_FULLY_CONNECTED_MVE_H */
