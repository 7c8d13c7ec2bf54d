#include "fully_connected.h"
#include "fully_connected_mve.h"

/* The DSP path is GNU inline assembly (GCC, clang, armclang); other compilers build the portable path. */
#if EDGEQ_DSP && defined(__GNUC__) && defined(__OPTIMIZE__) /* -O0 keeps r7 for the frame: the C path */
#define EDGEQ_FC_DSP 1
#else
#define EDGEQ_FC_DSP 0
#endif

/* Rows per pass (FC_GROUP_ROWS in the lowering): four row pairs share each widened input word. The lowering
 * pads the rows to a multiple of it with zero rows, which are never stored. */
#define EDGEQ_FC_GROUP 8

#if EDGEQ_FC_DSP
/* One step's input word (x0 x1 x2 x3) -> r10 = (x0, x2), r11 = (x1, x3); r8 walks the input. */
#define FC_X                                   \
  "ldr r11, [r8], #4\n\t"                      \
  "sxtb16 r10, r11\n\t"                        \
  "sxtb16 r11, r11, ror #8\n\t"
/* One row pair's two weight words P(x0,x2) P(x1,x3) (r9 walks them), lanes v = w[r+1] + 256 w[r]: raw SMLAD
 * gives A_r+1 + 256 A_r into RAW, the SMLAD of their SXTB16 A_r+1 into EXT. */
#define FC_PAIR(RAW, EXT)                      \
  "ldrd r12, lr, [r9], #8\n\t"                 \
  "smlad " RAW ", r10, r12, " RAW "\n\t"       \
  "smlad " RAW ", r11, lr, " RAW "\n\t"        \
  "sxtb16 r12, r12\n\t"                        \
  "sxtb16 lr, lr\n\t"                          \
  "smlad " EXT ", r10, r12, " EXT "\n\t"       \
  "smlad " EXT ", r11, lr, " EXT "\n\t"
/* Separate a pair's sums (the low byte of each lane is row r+1, the high byte row r): RAW becomes
 * (raw - ext) / 256 = A_r, EXT is A_r+1. */
#define FC_SEP(RAW, EXT) "sub " RAW ", " RAW ", " EXT "\n\t" "asr " RAW ", " RAW ", #8\n\t"
#define FC_STEP FC_X FC_PAIR("r0", "r1") FC_PAIR("r2", "r3") FC_PAIR("r4", "r5") FC_PAIR("r6", "r7")
/* Requantize row register R (bias added), LiteRT's single rounding with one shift = -1 - sh <= -2: the total
 * right shift is 32 + sh, and (x*m + 2^(31+sh)) >> (32+sh) = (floor(x*m / 2^32) + 2^(sh-1)) >> sh (nested
 * floors), so with the output offset (hi(x*m) + rb) >> sh, rb = 2^(sh-1) + out_off * 2^sh (SMMLA, ASR),
 * saturated to int8 (r10 m, r11 rb, r12 sh). */
#define FC_RQ(R) "smmla " R ", " R ", r10, r11\n\t" "asr " R ", " R ", r12\n\t" "ssat " R ", #8, " R "\n\t"

/* What fc_steps reads and writes besides the weights and input. */
typedef struct {
  int32_t sum[EDGEQ_FC_GROUP]; /* out: the rows' sums (store == 0) */
  const int32_t *bias;         /* store != 0: the group's 8 rows, requantized as FC_RQ, clamped and */
  int8_t *y;                   /* stored at y[0..7] */
  int32_t m, rb, sh;           /* sh >= 1 */
  int32_t store, clamp;        /* clamp: act_min > -128 or act_max < 127 */
  uint32_t lo4, hi4;           /* act_min, act_max in each byte */
} fc_ctx;
/* the offsets the asm reads */
_Static_assert(offsetof(fc_ctx, bias) == 32 && offsetof(fc_ctx, y) == 36 && offsetof(fc_ctx, m) == 40 &&
                   offsetof(fc_ctx, sh) == 48 && offsetof(fc_ctx, store) == 52 && offsetof(fc_ctx, clamp) == 56 &&
                   offsetof(fc_ctx, lo4) == 60 && offsetof(fc_ctx, hi4) == 64,
               "fc_ctx layout");

/* n >= 1 steps of a group from x, weights w: the sums of the group's rows; with c->store == 0 into c->sum,
 * else requantized and stored. Returns w advanced. The end of the input and c are kept on the stack (every
 * register is taken). */
static EDGEQ_NOINLINE const int32_t *fc_steps(const int8_t *x, const int32_t *w, int32_t n, fc_ctx *c) {
  register int32_t r0 __asm__("r0"), r1 __asm__("r1"), r2 __asm__("r2"), r3 __asm__("r3");
  register int32_t r4 __asm__("r4"), r5 __asm__("r5"), r6 __asm__("r6"), r7 __asm__("r7");
  register const int8_t *xp __asm__("r8") = x;
  register const int32_t *wp __asm__("r9") = w;
  register int32_t r10 __asm__("r10"), r11 __asm__("r11");
  register int32_t r12 __asm__("r12") = n;
  register fc_ctx *lr __asm__("lr") = c;
  __asm__ volatile(
      "add r11, r8, r12, lsl #2\n\t"
      "strd r11, lr, [sp, #-8]!\n\t"
      "movs r0, #0\n\t"
      "movs r1, #0\n\t"
      "movs r2, #0\n\t"
      "movs r3, #0\n\t"
      "movs r4, #0\n\t"
      "movs r5, #0\n\t"
      "movs r6, #0\n\t"
      "movs r7, #0\n\t"
      /* four steps per iteration: n % 4 = 3, 2, 1 enter at the second, third, fourth */
      "ands r12, r12, #3\n\t"
      "beq 1f\n\t"
      "cmp r12, #2\n\t"
      "beq 3f\n\t"
      "bhi 2f\n\t"
      "b 4f\n"
      "1:\n\t" FC_STEP "2:\n\t" FC_STEP "3:\n\t" FC_STEP "4:\n\t" FC_STEP
      "ldr r12, [sp]\n\t"
      "cmp r8, r12\n\t"
      "blo 1b\n\t"
      FC_SEP("r0", "r1") FC_SEP("r2", "r3") FC_SEP("r4", "r5") FC_SEP("r6", "r7")
      "ldr lr, [sp, #4]\n\t"
      "add sp, sp, #8\n\t"
      "ldr r12, [lr, #52]\n\t"
      "cmp r12, #0\n\t"
      "bne 6f\n\t"
      "stmia lr, {r0, r1, r2, r3, r4, r5, r6, r7}\n\t"
      "b 8f\n"
      "6:\n\t"
      "ldr r8, [lr, #32]\n\t"
      "ldm r8!, {r10, r11, r12}\n\t"
      "add r0, r0, r10\n\t"
      "add r1, r1, r11\n\t"
      "add r2, r2, r12\n\t"
      "ldm r8!, {r10, r11, r12}\n\t"
      "add r3, r3, r10\n\t"
      "add r4, r4, r11\n\t"
      "add r5, r5, r12\n\t"
      "ldm r8, {r10, r11}\n\t"
      "add r6, r6, r10\n\t"
      "add r7, r7, r11\n\t"
      "ldrd r10, r11, [lr, #40]\n\t"
      "ldr r12, [lr, #48]\n\t"
      FC_RQ("r0") FC_RQ("r1") FC_RQ("r2") FC_RQ("r3") FC_RQ("r4") FC_RQ("r5") FC_RQ("r6") FC_RQ("r7")
      "bfi r0, r1, #8, #8\n\t"
      "bfi r0, r2, #16, #8\n\t"
      "bfi r0, r3, #24, #8\n\t"
      "bfi r4, r5, #8, #8\n\t"
      "bfi r4, r6, #16, #8\n\t"
      "bfi r4, r7, #24, #8\n\t"
      "ldr r1, [lr, #56]\n\t"
      "cbz r1, 7f\n\t"
      /* bytewise min(max(v, lo4), hi4) */
      "ldrd r2, r3, [lr, #60]\n\t"
      "ssub8 r1, r0, r2\n\t"
      "sel r0, r0, r2\n\t"
      "ssub8 r1, r0, r3\n\t"
      "sel r0, r3, r0\n\t"
      "ssub8 r1, r4, r2\n\t"
      "sel r4, r4, r2\n\t"
      "ssub8 r1, r4, r3\n\t"
      "sel r4, r3, r4\n"
      "7:\n\t"
      "ldr r8, [lr, #36]\n\t"
      "str r0, [r8]\n\t"
      "str r4, [r8, #4]\n"
      "8:"
      : "=&r"(r0), "=&r"(r1), "=&r"(r2), "=&r"(r3), "=&r"(r4), "=&r"(r5), "=&r"(r6), "=&r"(r7), "+r"(xp),
        "+r"(wp), "=&r"(r10), "=&r"(r11), "+r"(r12), "+r"(lr)
      :
      : "cc", "memory");
  return wp;
}
#endif

/* The low and high int16 lanes of a packed word (v = w[r+1] + 256 w[r]), the low byte of a lane as int8
 * (w[r+1]) and the rest (w[r]). */
#define FC_LO16(wd) ((int32_t)(int16_t)(uint16_t)((uint32_t)(wd) & 0xFFFFu))
#define FC_HI16(wd) ((int32_t)(wd) >> 16)
#define FC_LO8(v) ((int32_t)(int8_t)(uint8_t)((uint32_t)(v) & 0xFFu))
#define FC_HI8(v) (((v) - FC_LO8(v)) >> 8)

#define FC_PAIRS (EDGEQ_FC_GROUP / 2)

/* n steps of a group in C: the sums of its rows into s, as fc_steps (the portable path, and on DSP cores the
 * compact entry point's). */
static const int32_t *fc_steps_c(const int8_t *x, const int32_t *w, int32_t n, int32_t *s) {
  uint32_t raw[FC_PAIRS];
  int32_t ext[FC_PAIRS], j;
  for (j = 0; j < FC_PAIRS; ++j) raw[j] = 0, ext[j] = 0;
  for (; n > 0; --n, x += 4) {
    const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    for (j = 0; j < FC_PAIRS; ++j, w += 2) {
      const int32_t v0 = FC_LO16(w[0]), u0 = FC_HI16(w[0]), v1 = FC_LO16(w[1]), u1 = FC_HI16(w[1]);
      raw[j] += (uint32_t)(x0 * v0 + x2 * u0 + x1 * v1 + x3 * u1);
      ext[j] += x0 * FC_LO8(v0) + x2 * FC_LO8(u0) + x1 * FC_LO8(v1) + x3 * FC_LO8(u1);
    }
  }
  for (j = 0; j < FC_PAIRS; ++j) {
    s[2 * j] = (int32_t)(raw[j] - (uint32_t)ext[j]) >> 8;
    s[2 * j + 1] = ext[j];
  }
  return w;
}

/* edgeq_requant out of line: the general case (TFLM's double rounding, per-channel, sparse). */
static EDGEQ_NOINLINE int32_t fc_requant_other(int32_t x, int32_t m, int32_t shift, int32_t rounding) {
  return edgeq_requant(x, m, shift, rounding);
}

/* The accumulators a[0..7] (sums over the inputs, bias not included) of one group of rows for the input x,
 * chunk by chunk; returns w past the group. */
EDGEQ_INLINE const int32_t *fc_group(const edgeq_fully_connected_s8_params *p, const int8_t *x, const int32_t *w,
                                     int32_t *a, const int use_asm) {
  const int32_t tail = p->in_features & 3;
  int32_t left = p->in_features >> 2, j, r;
#if EDGEQ_FC_DSP
  fc_ctx c;
  int32_t *s = c.sum;
  c.store = 0;
#else
  int32_t s[EDGEQ_FC_GROUP];
  (void)use_asm;
#endif
  for (j = 0; j < EDGEQ_FC_GROUP; ++j) a[j] = 0;
  while (left > 0) {
    const int32_t n = left < p->chunk ? left : p->chunk;
    left -= n;
#if EDGEQ_FC_DSP
    if (use_asm)
      w = fc_steps(x, w, n, &c);
    else
      w = fc_steps_c(x, w, n, s);
#else
    w = fc_steps_c(x, w, n, s);
#endif
    x += 4 * n;
    for (j = 0; j < EDGEQ_FC_GROUP; ++j) a[j] += s[j];
  }
  for (r = 0; r < tail; ++r, w += FC_PAIRS / 2) {
    for (j = 0; j < FC_PAIRS; ++j) {
      const int32_t v = j & 1 ? FC_HI16(w[j >> 1]) : FC_LO16(w[j >> 1]);
      a[2 * j] += x[r] * FC_HI8(v);
      a[2 * j + 1] += x[r] * FC_LO8(v);
    }
  }
  return w;
}

/* Requantize, clamp and store rows o..end-1 of a group (accumulators a, from row o). */
static EDGEQ_NOINLINE void fc_store(const edgeq_fully_connected_s8_params *p, const int32_t *a, int32_t o,
                                    int32_t end, int8_t *y) {
  const int32_t sparse = p->sparse, rounding = p->rq.rounding, pc = p->per_channel;
  const int32_t out_off = p->rq.output_offset, act_min = p->rq.act_min, act_max = p->rq.act_max;
  const int32_t *bias = p->bias + o, *mult = p->mult, *shift = p->shift;
  int32_t j;
  for (j = o; j < end; ++j, ++a, ++bias) {
    const int32_t c = pc ? j : 0;
    const int32_t acc = (int32_t)((uint32_t)*bias + (uint32_t)*a);
    if (sparse && !(j & 1)) continue; /* sparse: rows 2o are the zero rows, output o is row 2o + 1 */
    y[(j >> sparse) - (o >> sparse)] = (int8_t)edgeq_clamp_i32(
        fc_requant_other(acc, mult[c], shift[c], rounding) + out_off, act_min, act_max);
  }
}

/* Every batch row, group by group: use_asm 1 takes the DSP assembly loop (fc_steps, which also requantizes
 * whole groups where it can), 0 the C sums (the compact entry point: the assembly is then not linked). */
EDGEQ_INLINE void fc_run(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out, const int use_asm) {
  const int32_t rows = p->out_features, sparse = p->sparse;
  int32_t b, o;
#if EDGEQ_FC_DSP
  /* whole groups of one chunk without tail inputs in LiteRT's usual rounding: fc_steps requantizes them */
  fc_ctx c;
  c.store = use_asm && !p->per_channel && !sparse && p->rq.rounding == EDGEQ_ROUND_SINGLE && p->shift[0] < -1 &&
            (p->in_features >> 2) <= p->chunk && (p->in_features & 3) == 0;
  c.m = p->mult[0];
  c.sh = c.store ? -1 - p->shift[0] : 1;
  c.rb = (int32_t)((1u << (c.sh - 1)) + ((uint32_t)p->rq.output_offset << c.sh));
  c.clamp = p->rq.act_min > -128 || p->rq.act_max < 127;
  c.lo4 = (uint32_t)(uint8_t)(int8_t)p->rq.act_min * 0x01010101u;
  c.hi4 = (uint32_t)(uint8_t)(int8_t)p->rq.act_max * 0x01010101u;
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (size_t)b * (size_t)p->in_features;
    int8_t *y = out + (size_t)b * (size_t)(rows >> sparse);
    const int32_t *w = p->weights;
    for (o = 0; o < rows; o += EDGEQ_FC_GROUP) {
      int32_t a[EDGEQ_FC_GROUP];
#if EDGEQ_FC_DSP
      if (use_asm && c.store && o + EDGEQ_FC_GROUP <= rows && p->in_features > 0) {
        c.bias = p->bias + o;
        c.y = y + o;
        w = fc_steps(x, w, p->in_features >> 2, &c);
        continue;
      }
#endif
      w = fc_group(p, x, w, a, use_asm);
      fc_store(p, a, o, o + EDGEQ_FC_GROUP < rows ? o + EDGEQ_FC_GROUP : rows, y + (o >> sparse));
    }
  }
}

void edgeq_fully_connected_s8(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out) {
#if EDGEQ_MVE
  if (p->weights_s8 != NULL) {
    fc_mve(p, in, out);
    return;
  }
#endif
  fc_run(p, in, out, 1);
}

void edgeq_fully_connected_s8_compact(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out) {
  fc_run(p, in, out, 0);
}

/* Row weights first .. first + n - 1 of an int4 matrix (book NULL) or of codebook indices into book, as int8. */
static void fc_unpack_row(const edgeq_fully_connected_s8_params *p, const int8_t *book, int32_t first, int32_t n,
                          int8_t *w) {
  const uint8_t *const src = (const uint8_t *)p->weights;
  if (book != NULL && p->cb_bits == 4)
    edgeq_unpack_cb4(src, first, n, book, w);
  else if (book != NULL)
    edgeq_unpack_cb(src, p->cb_bits, first, n, book, w);
  else
    edgeq_unpack_s4(src, first, n, w);
}

#if EDGEQ_FC_DSP
/* The four int8 values of v (v0 v1 v2 v3) as the int16 lanes (v0, v2) into *e and (v1, v3) into *o: SXTB16. */
EDGEQ_INLINE void fc_widen(uint32_t v, int32_t *e, int32_t *o) {
  __asm__("sxtb16 %0, %2\n\tsxtb16 %1, %2, ror #8" : "=&r"(*e), "=r"(*o) : "r"(v));
}

/* a + the dot product of one input word xv (4 int8 values, unaligned reads are LDRs on every DSP core) and its 4
 * weights given as the int16 lanes we = (w0, w2), wo = (w1, w3): SXTB16 of xv, two SMLAD (wrapping as the
 * reference's int32 sum). */
EDGEQ_INLINE int32_t fc_mac_word(int32_t a, uint32_t xv, int32_t we, int32_t wo) {
  int32_t xe, xo;
  fc_widen(xv, &xe, &xo);
  __asm__("smlad %0, %1, %2, %0\n\tsmlad %0, %3, %4, %0" : "+r"(a) : "r"(xe), "r"(we), "r"(xo), "r"(wo));
  return a;
}

/* Entries e0, e1 (sign-extended) of a codebook as the int16 lanes (e0, e1): PKHBT. */
EDGEQ_INLINE int32_t fc_lanes(int32_t e0, int32_t e1) {
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(e0), "r"(e1));
  return r;
}

/* acc + the dot product of x and w over n4 words of 4 int8 values each (a row decoded into scratch): both widened
 * (2.5 instructions a MAC against the scalar loop's 4). */
static uint32_t fc_dot4(const int8_t *x, const int8_t *w, int32_t n4, uint32_t acc) {
  int32_t a = (int32_t)acc;
  for (; n4 > 0; --n4, x += 4, w += 4) {
    uint32_t xv, wv;
    int32_t we, wo;
    memcpy(&xv, x, 4);
    memcpy(&wv, w, 4);
    fc_widen(wv, &we, &wo);
    a = fc_mac_word(a, xv, we, wo);
  }
  return (uint32_t)a;
}

/* An int4 nibble's value, as a codebook: int4 rows take the codebook path. */
static const int8_t fc_s4_values[16] = {0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1};

/* a + x . w over one input word xv and its 4 weights' indices iv (low nibble first) into book: the entries
 * paired into (w0, w2), (w1, w3) int16 lanes (fc_mac_word). */
EDGEQ_INLINE int32_t fc_mac_nib4(int32_t a, uint32_t xv, uint32_t iv, const int8_t *book) {
  return fc_mac_word(a, xv, fc_lanes(book[iv & 15u], book[(iv >> 8) & 15u]),
                     fc_lanes(book[(iv >> 4) & 15u], book[(iv >> 12) & 15u]));
}

/* acc + the dot product of x (n4 words of 4 int8 values) and 4 n4 weights given as 4-bit indices into book
 * (two a byte, low nibble first, from nib), decoded on the fly (fc_mac_nib4), 8 weights a step. No decode pass:
 * batch-1 dense layers (ad01 clustered to 16 values: 7.7 -> 4.2 instructions a weight). */
static uint32_t fc_dot_nib4(const int8_t *x, const uint8_t *nib, const int8_t *book, int32_t n4, uint32_t acc) {
  int32_t a = (int32_t)acc;
  for (; n4 >= 2; n4 -= 2, x += 8, nib += 4) {
    uint32_t x0, x1, iv;
    memcpy(&x0, x, 4);
    memcpy(&x1, x + 4, 4);
    memcpy(&iv, nib, 4);
    a = fc_mac_nib4(a, x0, iv, book);
    a = fc_mac_nib4(a, x1, iv >> 16, book);
  }
  if (n4 > 0) {
    uint32_t x0;
    uint16_t iv;
    memcpy(&x0, x, 4);
    memcpy(&iv, nib, 2);
    a = fc_mac_nib4(a, x0, (uint32_t)iv, book);
  }
  return (uint32_t)a;
}

/* acc + x . w over n4 words of x and their 4 n4 weights given as `bits`-wide codebook indices (2 to 7) from bit pos
 * of the little-endian stream src, decoded on the fly: a group's 4 indices from one unaligned word (two for 7
 * bits) shifted to pos, looked up, paired into (w0, w2), (w1, w3) int16 lanes (fc_mac_word). Reads 4 (7 bits: 8)
 * bytes from each group's first index byte on: the caller keeps them inside the stream (fc_stream_reach). */
static uint32_t fc_dot_bits(const int8_t *x, const uint8_t *src, uint32_t pos, int32_t bits, const int8_t *book,
                            int32_t n4, uint32_t acc) {
  const uint32_t mask = (1u << bits) - 1u, step = 4u * (uint32_t)bits;
  int32_t a = (int32_t)acc;
  for (; n4 > 0; --n4, pos += step, x += 4) {
    uint32_t xv, lo, v;
    memcpy(&lo, src + (pos >> 3), 4);
    if (bits == 7) {
      uint32_t hi;
      memcpy(&hi, src + (pos >> 3) + 4, 4);
      v = (uint32_t)((((uint64_t)hi << 32) | lo) >> (pos & 7u));
    } else {
      v = lo >> (pos & 7u); /* 25 bits or more: the 4 indices of up to 6 bits */
    }
    memcpy(&xv, x, 4);
    a = fc_mac_word(a, xv, fc_lanes(book[v & mask], book[(v >> (2 * bits)) & mask]),
                    fc_lanes(book[(v >> bits) & mask], book[(v >> (3 * bits)) & mask]));
  }
  return (uint32_t)a;
}

/* The last index a group of fc_dot_bits may start at and keep its reads inside the layer's stream of codebook
 * indices (rows x in_f of them, `bits` wide); -1 when none can. 32-bit arithmetic: no libgcc helper (UDIV on
 * every DSP core). */
static int32_t fc_stream_reach(int32_t rows, int32_t in_f, int32_t bits) {
  const int32_t span = bits == 7 ? 8 : 4;
  const int32_t last = (int32_t)(((uint32_t)rows * (uint32_t)in_f * (uint32_t)bits + 7u) >> 3) - span;
  return last < 0 ? -1 : (int32_t)(((uint32_t)last * 8u + 7u) / (uint32_t)bits);
}
#endif

void edgeq_fully_connected_s4(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  const int32_t in_f = p->in_features, rows = p->out_features, batches = p->batches;
  int8_t *w = (int8_t *)scratch;
  int32_t o, b, i;
#if EDGEQ_FC_DSP
  const int32_t reach = p->codebook != NULL ? fc_stream_reach(rows, in_f, p->cb_bits) : -1;
#endif
  for (o = 0; o < rows; ++o) {
    const int32_t c = p->per_channel ? o : 0;
    const int32_t m = p->mult[c], sft = p->shift[c], bias = p->bias[o];
    /* row o's codebook (NULL: int4 weights) */
    const int8_t *book = p->codebook == NULL ? NULL
                         : p->codebook + ((size_t)(p->cb_map != NULL ? p->cb_map[o] : 0) << p->cb_bits);
    const int32_t first = o * in_f;
#if EDGEQ_FC_DSP
    if (batches == 1 && (book != NULL || !(first & 1))) { /* decoded as it goes, the last in_f % 4 weights apart */
      int32_t n4 = in_f >> 2;
      uint32_t acc;
      if ((book == NULL || p->cb_bits == 4) && !(first & 1)) {
        acc = fc_dot_nib4(in, (const uint8_t *)p->weights + (first >> 1), book != NULL ? book : fc_s4_values, n4,
                          (uint32_t)bias);
      } else { /* other widths, 4 bits from an odd nibble: the groups whose reads stay in the stream */
        const int32_t safe = reach < first ? 0 : ((reach - first) >> 2) + 1; /* first + 4 g <= reach */
        if (n4 > safe) n4 = safe;
        acc = fc_dot_bits(in, (const uint8_t *)p->weights, (uint32_t)first * (uint32_t)p->cb_bits, p->cb_bits, book,
                          n4, (uint32_t)bias);
      }
      fc_unpack_row(p, book, first + 4 * n4, in_f - 4 * n4, w);
      for (i = 0; i < in_f - 4 * n4; ++i) acc += (uint32_t)((int32_t)in[4 * n4 + i] * (int32_t)w[i]);
      out[o] = (int8_t)edgeq_requant_clamp(&p->rq, (int32_t)acc, m, sft);
      continue;
    }
#endif
    fc_unpack_row(p, book, first, in_f, w);
    for (b = 0; b < batches; ++b) {
      const int8_t *x = in + (size_t)b * (size_t)in_f;
      uint32_t acc = (uint32_t)bias; /* the reference's int32 sum, wrapping like the folded bias */
      i = 0;
#if EDGEQ_FC_DSP
      acc = fc_dot4(x, w, in_f >> 2, acc);
      i = in_f & ~3;
#endif
      for (; i < in_f; ++i) acc += (uint32_t)((int32_t)x[i] * (int32_t)w[i]);
      out[(size_t)b * (size_t)rows + (size_t)o] = (int8_t)edgeq_requant_clamp(&p->rq, (int32_t)acc, m, sft);
    }
  }
}
