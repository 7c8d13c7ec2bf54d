#include "pooling.h"
#include <string.h>
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* Average of one window, Helium: 8 channels per step summed in int16 lanes (the caller checked that
 * count * 128 fits: count <= 256), each sum finished in scalar code as the portable path does (division
 * rounding half away from zero, clamp). win: the window's first tap; C channels, row: a row's stride. */
static int8_t *avg_window_mve(const edgeq_pool_s8_params *p, const int8_t *win, size_t row, int32_t ny, int32_t nx,
                              int8_t *out) {
  const int32_t C = p->channels, count = ny * nx, half = count / 2;
  int32_t c, fy, fx, k;
  for (c = 0; c < C; c += 8) {
    const mve_pred16_t pr = vctp16q((uint32_t)(C - c));
    int16x8_t acc = vdupq_n_s16(0);
    const int8_t *r = win + c;
    int16_t sums[8];
    for (fy = 0; fy < ny; ++fy, r += row) {
      const int8_t *x = r;
      for (fx = 0; fx < nx; ++fx, x += C) acc = vaddq_s16(acc, vldrbq_z_s16(x, pr));
    }
    vst1q_s16(sums, acc);
    for (k = 0; k < 8 && c + k < C; ++k) {
      int32_t v = sums[k];
      v = v > 0 ? (v + half) / count : (v - half) / count;
      *out++ = (int8_t)edgeq_clamp_i32(v, p->act_min, p->act_max);
    }
  }
  return out;
}

/* Maximum of one window, Helium: 16 channels per step (VMAX), clamped and stored under the tail predicate. */
static int8_t *max_window_mve(const edgeq_pool_s8_params *p, const int8_t *win, size_t row, int32_t ny, int32_t nx,
                              int8_t *out) {
  const int32_t C = p->channels;
  const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
  int32_t c, fy, fx;
  for (c = 0; c < C; c += 16) {
    const mve_pred16_t pr = vctp8q((uint32_t)(C - c));
    int8x16_t m = vdupq_n_s8(-128);
    const int8_t *r = win + c;
    for (fy = 0; fy < ny; ++fy, r += row) {
      const int8_t *x = r;
      for (fx = 0; fx < nx; ++fx, x += C) m = vmaxq_s8(m, vld1q_z_s8(x, pr));
    }
    vst1q_p_s8(out + c, vminq_s8(vmaxq_s8(m, lo), hi), pr);
  }
  return out + C;
}
#endif

#if EDGEQ_DSP && defined(__GNUC__)
/* acc + the sign-extended bytes 0 and 2 of v (SXTAB16), or with ROR8 bytes 1 and 3, as two int16 lanes. */
EDGEQ_INLINE uint32_t pool_sxtab16(uint32_t acc, uint32_t v) {
  __asm__("sxtab16 %0, %0, %1" : "+r"(acc) : "r"(v));
  return acc;
}
EDGEQ_INLINE uint32_t pool_sxtab16_ror8(uint32_t acc, uint32_t v) {
  __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(acc) : "r"(v));
  return acc;
}
#define EDGEQ_POOL_DSP 1
#else
#define EDGEQ_POOL_DSP 0
#endif

/* A window's sum divided by its count, rounded half away from zero (C division truncates toward zero),
 * clamped. */
static EDGEQ_NOINLINE int8_t pool_avg(const edgeq_pool_s8_params *p, int32_t acc, int32_t count) {
  const int32_t half = count / 2;
  acc = acc > 0 ? (acc + half) / count : (acc - half) / count;
  return (int8_t)edgeq_clamp_i32(acc, p->act_min, p->act_max);
}

void edgeq_avg_pool_s8(const edgeq_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t C = p->channels;
  const size_t row = (size_t)p->in_w * (size_t)C;
  int32_t b, oy, ox, c, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)p->in_h * row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t fy0, fy1;
      edgeq_pool_window(iy0, p->filter_h, p->in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t fx0, fx1, count, ny, nx;
        const int8_t *win;
        edgeq_pool_window(ix0, p->filter_w, p->in_w, &fx0, &fx1);
        ny = fy1 - fy0;
        nx = fx1 - fx0;
        count = ny * nx; /* > 0: the generator rejects empty windows */
        win = img + (size_t)(iy0 + fy0) * row + (size_t)(ix0 + fx0) * (size_t)C;
        if (nx == p->in_w) { /* whole rows (a global pool): one run of count pixels */
          nx = count;
          ny = 1;
        }
#if EDGEQ_MVE
        if (count <= 256) {
          out = avg_window_mve(p, win, row, ny, nx, out);
          continue;
        }
#endif
        for (c = 0; c < C; ++c) {
          int32_t acc = 0;
          const int8_t *r = win + c;
#if EDGEQ_POOL_DSP
          if (count <= 256 && C - c >= 4) {
            /* four channels at once in int16 lanes (|sum| <= 256 * 128): (c, c+2) and (c+1, c+3) */
            uint32_t e = 0, o = 0;
            for (fy = 0; fy < ny; ++fy, r += row) {
              const int8_t *x = r;
              for (fx = 0; fx < nx; ++fx, x += C) {
                uint32_t v;
                memcpy(&v, x, 4);
                e = pool_sxtab16(e, v);
                o = pool_sxtab16_ror8(o, v);
              }
            }
            *out++ = pool_avg(p, (int16_t)e, count);
            *out++ = pool_avg(p, (int16_t)o, count);
            *out++ = pool_avg(p, (int32_t)e >> 16, count);
            *out++ = pool_avg(p, (int32_t)o >> 16, count);
            c += 3;
            continue;
          }
#endif
          for (fy = 0; fy < ny; ++fy, r += row) {
            const int8_t *x = r;
            for (fx = 0; fx < nx; ++fx, x += C) acc += *x;
          }
          *out++ = pool_avg(p, acc, count);
        }
      }
    }
  }
}

void edgeq_max_pool_s8(const edgeq_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t C = p->channels;
  const size_t row = (size_t)p->in_w * (size_t)C;
  int32_t b, oy, ox, c, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)p->in_h * row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t fy0, fy1;
      edgeq_pool_window(iy0, p->filter_h, p->in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t fx0, fx1;
        const int8_t *win;
        edgeq_pool_window(ix0, p->filter_w, p->in_w, &fx0, &fx1);
        win = img + (size_t)(iy0 + fy0) * row + (size_t)(ix0 + fx0) * (size_t)C;
#if EDGEQ_MVE
        out = max_window_mve(p, win, row, fy1 - fy0, fx1 - fx0, out);
        continue;
#endif
        for (c = 0; c < C; ++c) {
          int32_t m = -128;
          const int8_t *r = win + c;
          for (fy = fy0; fy < fy1; ++fy, r += row) {
            const int8_t *x = r;
            for (fx = fx0; fx < fx1; ++fx, x += C) m = *x > m ? *x : m;
          }
          *out++ = (int8_t)edgeq_clamp_i32(m, p->act_min, p->act_max);
        }
      }
    }
  }
}
