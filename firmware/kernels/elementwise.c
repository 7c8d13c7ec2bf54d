#include "elementwise.h"
#include "edgeq_dsp.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* The Helium paths: `rows` rows of n outputs (row r reads in1 + r * ra, in2 + r * rb2: the walk of a
 * two-dimensional broadcast, or one row of the general walk), 4 int32 lanes per step (edgeq_mve.h), full
 * vectors then one predicated tail. TA / TB map a vector of 4 sign-extended input bytes to the operands; a
 * broadcast operand (innermost stride 0) is the row's ca / cb, set (SET) by C0A / C0B from its first element;
 * COMBINE joins the operands into what edgeq_mve_smmulr_finish takes. */
#define EWISE_MVE_LOOP(SET, TA, TB, COMBINE)                                                               \
  for (r = 0; r < rows; ++r) {                                                                           \
    const int8_t *a = in1 + r * ra, *b = in2 + r * rb2;                                                   \
    int8_t *y = out + r * n;                                                                             \
    SET                                                                                                  \
    int32_t k = n;                                                                                       \
    for (; k >= 4; k -= 4, a += 4 * sa, b += 4 * sb, y += 4)                                             \
      vstrbq_s32(y, edgeq_mve_smmulr_finish(COMBINE(TA(vldrbq_s32(a)), TB(vldrbq_s32(b))), m, rb, e, lo, hi)); \
    if (k > 0) {                                                                                         \
      const mve_pred16_t pr = vctp32q((uint32_t)k);                                                      \
      vstrbq_p_s32(y, edgeq_mve_smmulr_finish(COMBINE(TA(vldrbq_z_s32(a, pr)), TB(vldrbq_z_s32(b, pr))), m, \
                                              rb, e, lo, hi), pr);                                       \
    }                                                                                                    \
  }
#define EWISE_MVE_CA(x) ca
#define EWISE_MVE_CB(x) cb
#define EWISE_MVE_SET_CA const int32x4_t ca = vdupq_n_s32(C0A(a));
#define EWISE_MVE_SET_CB const int32x4_t cb = vdupq_n_s32(C0B(b));
#define EWISE_MVE_LOOPS(TA, TB, COMBINE)                          \
  if (sb == 0) {                                                  \
    EWISE_MVE_LOOP(EWISE_MVE_SET_CB, TA, EWISE_MVE_CB, COMBINE)   \
  } else if (sa == 0) {                                           \
    EWISE_MVE_LOOP(EWISE_MVE_SET_CA, EWISE_MVE_CA, TB, COMBINE)   \
  } else {                                                        \
    EWISE_MVE_LOOP(, TA, TB, COMBINE)                             \
  }
#endif

/* --- ADD / SUB ---------------------------------------------------------------------------------- */

/* The table path (elementwise.h): SMMULR of the summed table entries, then a rounding shift. */
EDGEQ_INLINE int32_t add_high_mul(int32_t a, int32_t b) {
#if EDGEQ_DSP
  return edgeq_smmulr(a, b);
#else
  return (int32_t)(((int64_t)a * (int64_t)b + 0x80000000LL) >> 32);
#endif
}

EDGEQ_INLINE int32_t add_table_raw(int32_t t, int32_t m, int32_t rb, int32_t e) {
  const int32_t u = add_high_mul(t, m);
  return (u + (u >> 31) + rb) >> e;
}

/* The input rescale s = requant((v + offset) << left_shift, m, shift) (elementwise.h), for the run-time tables and
 * the generic path; x = v + offset. Single rounding: edgeq_mul_qm_single. Double rounding (the reference's
 * MultiplyByQuantizedMultiplierSmallerThanOneExp, and the only rounding with tables) as the table path's output
 * stage: SaturatingRoundingDoublingHighMul(x << 20, m) = SMMULR(x << 21, m) (|x| <= 255: no overflow, both round
 * half up), then RoundingDivideByPOT by e = -shift >= 1 as add_table_raw does it. shift 0 comes only with m = 2^30
 * (an input multiplier is at most one half) or m = 0 (the lowering checks it): there s = x << 19 (or 0) =
 * SMMULR(x << 22, m) rounding-shifted by 1 (an even value: exact). */
EDGEQ_INLINE int32_t add_scale(int32_t x, int32_t left_shift, int32_t m, int32_t shift, int32_t rounding) {
  const int32_t e = shift < 0 ? -shift : 1;
  if (rounding == EDGEQ_ROUND_SINGLE) return edgeq_mul_qm_single(x * ((int32_t)1 << left_shift), m, shift);
  return add_table_raw(x * ((int32_t)1 << (left_shift + 1 + (shift == 0))), m, (int32_t)1 << (e - 1), e);
}

EDGEQ_INLINE int8_t add_finish(const edgeq_add_s8_params *p, int32_t raw) {
  return (int8_t)edgeq_requant_clamp(&p->rq, raw, p->output_multiplier, p->output_shift);
}

/* The generic path, where the table path would not be exact (elementwise.h): the three requantizations per
 * element. One row of n outputs; sa / sb are the inputs' innermost strides (0 or 1). */
static void add_row(const edgeq_add_s8_params *p, int sub, const int8_t *a, int32_t sa, const int8_t *b,
                    int32_t sb, int8_t *y, int32_t n) {
  const int32_t l = p->left_shift, r = p->rq.rounding;
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t va = add_scale(a[i * sa] + p->input1_offset, l, p->input1_multiplier, p->input1_shift, r);
    const int32_t vb = add_scale(b[i * sb] + p->input2_offset, l, p->input2_multiplier, p->input2_shift, r);
    y[i] = add_finish(p, sub ? va - vb : va + vb);
  }
}

/* Saturate to int8, then the fused activation's lower bound (act_max is 127: the caller checked). */
EDGEQ_INLINE int32_t add_table_low(int32_t v, int32_t lo) {
#if EDGEQ_DSP
  v = __ssat(v, 8);
#else
  v = v > 127 ? 127 : v;
#endif
  return v < lo ? lo : v; /* stored as a byte: no sign extension needed */
}

#define ADD_TABLE_LOOPS(OUT)                                                         \
  if (sb == 0) {                                                                     \
    const int32_t vb = t2[b[0]];                                                     \
    for (i = 0; i < n; ++i) y[i] = (int8_t)OUT(add_table_raw(t1[a[i]] + vb, m, rb, e)); \
  } else {                                                                           \
    for (i = 0; i < n; ++i) y[i] = (int8_t)OUT(add_table_raw(t1[a[i]] + t2[b[i]], m, rb, e)); \
  }

#if EDGEQ_MVE
/* The table path with the lookups as gather loads: t = t1[a] + t2[b], then SMMULR's finish. */
static void add_rows_table_mve(const edgeq_add_s8_params *p, const int32_t *t1, const int32_t *t2,
                               const int8_t *in1, int32_t ra, int32_t sa, const int8_t *in2, int32_t rb2, int32_t sb,
                               int8_t *out, int32_t n, int32_t rows) {
  const int32x4_t m = vdupq_n_s32(p->output_multiplier), rb = vdupq_n_s32(p->out_rb);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  const int32_t e = p->out_e;
  int32_t r;
#define ADD_MVE_T1(x) edgeq_mve_lookup_s8(t1, (x))
#define ADD_MVE_T2(x) edgeq_mve_lookup_s8(t2, (x))
#define C0A(a) t1[(a)[0]]
#define C0B(b) t2[(b)[0]]
  EWISE_MVE_LOOPS(ADD_MVE_T1, ADD_MVE_T2, vaddq_s32)
#undef ADD_MVE_T1
#undef ADD_MVE_T2
#undef C0A
#undef C0B
}
#endif

/* n outputs of a row; sa / sb: the inputs' innermost strides (0 or 1); t1 / t2: the tables, indexed by the input
 * byte (entry v at t[v]: 128 entries past the tables' start). */
static void add_row_table(const edgeq_add_s8_params *p, const int32_t *t1, const int32_t *t2, const int8_t *a,
                          int32_t sa, const int8_t *b, int32_t sb, int8_t *y, int32_t n) {
#if EDGEQ_MVE
  add_rows_table_mve(p, t1, t2, a, 0, sa, b, 0, sb, y, n, 1);
#else
  const int32_t m = p->output_multiplier, rb = p->out_rb, e = p->out_e;
  const int32_t lo = p->rq.act_min, hi = p->rq.act_max;
  int32_t i;
  if (sa == 0) { /* input 1 broadcast (never both): swap the inputs; the sum is symmetric (SUB's table 2 negated) */
    const int32_t *t = t1;
    const int8_t *x = a;
    t1 = t2, t2 = t, a = b, b = x, sb = 0;
  }
  if (hi == 127) {
#define ADD_OUT_LOW(v) add_table_low((v), lo)
    ADD_TABLE_LOOPS(ADD_OUT_LOW)
#undef ADD_OUT_LOW
  } else {
#define ADD_OUT_CLAMP(v) edgeq_clamp_i32((v), lo, hi)
    ADD_TABLE_LOOPS(ADD_OUT_CLAMP)
#undef ADD_OUT_CLAMP
  }
#endif
}
#undef ADD_TABLE_LOOPS

/* The generic path (add_row) over the whole output. */
EDGEQ_INLINE void add_sub(const edgeq_add_s8_params *p, int sub, const int8_t *in1, const int8_t *in2, int8_t *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    add_row(p, sub, in1 + it.off1, p->stride1[last], in2 + it.off2, p->stride2[last], out, n);
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}

void edgeq_add_s8(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  add_sub(p, 0, in1, in2, out);
}

void edgeq_sub_s8(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  add_sub(p, 1, in1, in2, out);
}

/* Input k's table (0: input 1) built in t: t[v + 128] = 2 * s_k(v) for the 256 input values v (SUB: table 2
 * holds -2 * s_2(v)). */
static EDGEQ_NOINLINE void add_fill(const edgeq_add_s8_params *p, int k, int32_t *t) {
  const int32_t offset = k ? p->input2_offset : p->input1_offset;
  const int32_t m = k ? p->input2_multiplier : p->input1_multiplier;
  const int32_t shift = k ? p->input2_shift : p->input1_shift;
  const int32_t factor = k && p->rt_sub ? -2 : 2, l = p->left_shift;
  int32_t x;
  for (x = offset - 128; x < offset + 128; ++x) *t++ = factor * add_scale(x, l, m, shift, EDGEQ_ROUND_DOUBLE);
}

/* The tables of the table path: in flash (rt_tables 0), or in scratch, built there unless rt_ready (an earlier call
 * built them). Returns table 1, and table 2 in *t2, both indexed by the input byte (entry v at t[v]: 128 entries
 * past the table's start). */
static const int32_t *add_tables(const edgeq_add_s8_params *p, void *scratch, const int32_t **t2) {
  int32_t *t = (int32_t *)scratch;
  if (!p->rt_tables) {
    *t2 = p->table2 + 128;
    return p->table1 + 128;
  }
  if (!p->rt_ready) {
    add_fill(p, 0, t);
    if (p->rt_tables == 2) add_fill(p, 1, t + 256);
  }
  *t2 = t + 128 + 256 * (p->rt_tables - 1);
  return t + 128;
}

/* ndim 1 or 2: one row, or the rows of a broadcast vector (no walk: the walk is linked only by models with
 * broadcasts of more dimensions, code size). */
void edgeq_add_s8_table_rt(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                           void *scratch) {
  const int32_t *t2, *t1 = add_tables(p, scratch, &t2);
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t sa = p->stride1[last], sb = p->stride2[last];
  const int32_t rows = last ? p->shape[0] : 1, ra = p->stride1[0], rb = p->stride2[0];
#if EDGEQ_MVE
  add_rows_table_mve(p, t1, t2, in1, ra, sa, in2, rb, sb, out, n, rows);
#else
  int32_t r;
  for (r = 0; r < rows; ++r, out += n) add_row_table(p, t1, t2, in1 + r * ra, sa, in2 + r * rb, sb, out, n);
#endif
}

/* ndim 3 or more: the broadcast walk, a row at a time. */
void edgeq_add_s8_table_nd_rt(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                              void *scratch) {
  const int32_t *t2, *t1 = add_tables(p, scratch, &t2);
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t sa = p->stride1[last], sb = p->stride2[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    add_row_table(p, t1, t2, in1 + it.off1, sa, in2 + it.off2, sb, out, n);
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}

/* --- MUL ---------------------------------------------------------------------------------------- */

EDGEQ_INLINE int8_t mul_finish(const edgeq_mul_s8_params *p, int32_t prod) {
  return (int8_t)edgeq_requant_clamp(&p->rq, prod, p->output_multiplier, p->output_shift);
}

#if EDGEQ_MVE
/* The fast path on 4 lanes: p = (a + input1_offset) * (b + input2_offset), shifted left by fast_shift, then
 * SMMULR's finish. */
static void mul_rows_mve(const edgeq_mul_s8_params *p, const int8_t *in1, int32_t ra, int32_t sa,
                         const int8_t *in2, int32_t rb2, int32_t sb, int8_t *out, int32_t n, int32_t rows) {
  const int32_t o1 = p->input1_offset, o2 = p->input2_offset, l = p->fast_shift;
  const int32x4_t m = vdupq_n_s32(p->output_multiplier), rb = vdupq_n_s32(p->out_rb);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  const int32_t e = p->out_e;
  int32_t r;
#define MUL_MVE_A(x) vaddq_n_s32((x), o1)
#define MUL_MVE_B(x) vaddq_n_s32((x), o2)
#define MUL_MVE_PRODUCT(u, v) vshlq_r_s32(vmulq_s32((u), (v)), l)
#define C0A(a) ((int32_t)(a)[0] + o1)
#define C0B(b) ((int32_t)(b)[0] + o2)
  EWISE_MVE_LOOPS(MUL_MVE_A, MUL_MVE_B, MUL_MVE_PRODUCT)
#undef MUL_MVE_A
#undef MUL_MVE_B
#undef MUL_MVE_PRODUCT
#undef C0A
#undef C0B
}
#endif

static void mul_row(const edgeq_mul_s8_params *p, const int8_t *a, int32_t sa, const int8_t *b, int32_t sb,
                    int8_t *y, int32_t n) {
  const int32_t o1 = p->input1_offset, o2 = p->input2_offset;
  int32_t i;
#if EDGEQ_MVE
  if (p->fast) {
    mul_rows_mve(p, a, 0, sa, b, 0, sb, y, n, 1);
    return;
  }
#endif
  if (p->fast) { /* elementwise.h: the SMMULR path */
    const int32_t m = p->output_multiplier, l = p->fast_shift, rb = p->out_rb, e = p->out_e;
    const int32_t lo = p->rq.act_min, hi = p->rq.act_max;
#define MUL_LOOPS(OUT)                                                                 \
  if (sb == 0) {                                                                       \
    const int32_t vb = (int32_t)b[0] + o2;                                             \
    for (i = 0; i < n; ++i) y[i] = (int8_t)OUT(((int32_t)a[i] + o1) * vb);             \
  } else if (sa == 0) {                                                                \
    const int32_t va = (int32_t)a[0] + o1;                                             \
    for (i = 0; i < n; ++i) y[i] = (int8_t)OUT(va * ((int32_t)b[i] + o2));             \
  } else {                                                                             \
    for (i = 0; i < n; ++i) y[i] = (int8_t)OUT(((int32_t)a[i] + o1) * ((int32_t)b[i] + o2)); \
  }
    if (hi == 127) {
#define MUL_OUT_LOW(prod) add_table_low(add_table_raw((prod) << l, m, rb, e), lo)
      MUL_LOOPS(MUL_OUT_LOW)
#undef MUL_OUT_LOW
    } else {
#define MUL_OUT_CLAMP(prod) edgeq_clamp_i32(add_table_raw((prod) << l, m, rb, e), lo, hi)
      MUL_LOOPS(MUL_OUT_CLAMP)
#undef MUL_OUT_CLAMP
    }
#undef MUL_LOOPS
    return;
  }
  for (i = 0; i < n; ++i) y[i] = mul_finish(p, ((int32_t)a[i * sa] + o1) * ((int32_t)b[i * sb] + o2));
}

void edgeq_mul_s8(const edgeq_mul_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  edgeq_bcast_iter it;
#if EDGEQ_MVE
  if (p->fast && p->ndim <= 2) { /* one row, or rows of a broadcast vector: no walk to step */
    const int32_t rows = p->ndim == 2 ? p->shape[0] : 1;
    mul_rows_mve(p, in1, p->ndim == 2 ? p->stride1[0] : 0, p->stride1[last], in2, p->ndim == 2 ? p->stride2[0] : 0,
                 p->stride2[last], out, n, rows);
    return;
  }
#endif
  edgeq_bcast_begin(&it, p->ndim);
  do {
    mul_row(p, in1 + it.off1, p->stride1[last], in2 + it.off2, p->stride2[last], out, n);
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
