/* bench_main.c - the edgeq bench application: serves protocol v2 requests (see protocol.h) over the
 * board's UART for the generated model library (prefix "model").
 *
 * INVOKE answers cycles, the number of model runs since boot, and the CRC-32 of the inputs it ran on
 * and of the outputs it produced: the host checks them end to end, so a board that was reset (inputs
 * lost, run counter back at 1) or a corrupted transfer cannot yield a wrong result unnoticed.
 *
 * Built with -DEDGEQ_BENCH_NO_MAIN (the libFuzzer target in fuzz/) there is no main(): the caller runs
 * bench_init() once and hands every received byte to bench_byte().
 *
 * Uses only platform.h, model.h and the generated bench_config.h. The inputs are kept in a copy of
 * their own and copied into the arena before every inference, because the memory plan may reuse an
 * input's bytes once it has been read: that makes INVOKE, PROFILE and DUMP repeatable (a retried
 * request gives the same answer).
 *
 * A model with state (MODEL_STATE_BYTES > 0, kept by model.c across invokes) is run as a sequence of
 * frames: RESET_STATE starts one at frame 0; the bench keeps a copy of the state the current frame
 * starts from and restores it before every run, so INVOKE, PROFILE and DUMP of the current frame stay
 * repeatable. INVOKE with a frame number n moves to frame n when n is the next frame (the state the
 * current frame's last run left becomes frame n's start state; the current frame must have run) and
 * runs it; n equal to the current frame runs it again (a retried request); any other n is refused
 * (EDGEQ_ERR_BAD_FRAME), so a lost reply never makes the sequence skip or repeat a frame.
 */
#include <string.h>

#include "bench_config.h"
#include "bench_hooks.h"
#include "model.h"
#include "platform.h"
#include "protocol.h"

/* op index space of the hooks: ops are numbered in schedule order, aliased ops included */
#define BENCH_NUM_OPS MODEL_NUM_OPS
#ifndef BENCH_PROTO_VERSION
#error "bench_config.h must define BENCH_PROTO_VERSION"
#endif
#if BENCH_PROTO_VERSION != EDGEQ_PROTO_VERSION
#error "bench_config.h was rendered for another protocol version than protocol.h"
#endif
#if BENCH_NUM_OPS > 65535 || MODEL_NUM_INPUTS > 255 || MODEL_NUM_OUTPUTS > 255
#error "model too large for the bench protocol (ops <= 65535, inputs/outputs <= 255)"
#endif
#if BENCH_COUNTER_KIND != 0 && BENCH_COUNTER_KIND != 1
#error "BENCH_COUNTER_KIND must be 0 (DWT) or 1 (SysTick)"
#endif

/* Bytes of all inputs together (model.h names each input's size; up to 8 inputs). */
#if MODEL_NUM_INPUTS > 8
#error "the bench supports models with up to 8 inputs"
#endif
#if MODEL_NUM_INPUTS > 0
#define BENCH_IN0 MODEL_INPUT0_BYTES
#else
#define BENCH_IN0 0
#endif
#if MODEL_NUM_INPUTS > 1
#define BENCH_IN1 MODEL_INPUT1_BYTES
#else
#define BENCH_IN1 0
#endif
#if MODEL_NUM_INPUTS > 2
#define BENCH_IN2 MODEL_INPUT2_BYTES
#else
#define BENCH_IN2 0
#endif
#if MODEL_NUM_INPUTS > 3
#define BENCH_IN3 MODEL_INPUT3_BYTES
#else
#define BENCH_IN3 0
#endif
#if MODEL_NUM_INPUTS > 4
#define BENCH_IN4 MODEL_INPUT4_BYTES
#else
#define BENCH_IN4 0
#endif
#if MODEL_NUM_INPUTS > 5
#define BENCH_IN5 MODEL_INPUT5_BYTES
#else
#define BENCH_IN5 0
#endif
#if MODEL_NUM_INPUTS > 6
#define BENCH_IN6 MODEL_INPUT6_BYTES
#else
#define BENCH_IN6 0
#endif
#if MODEL_NUM_INPUTS > 7
#define BENCH_IN7 MODEL_INPUT7_BYTES
#else
#define BENCH_IN7 0
#endif
#define BENCH_INPUT_BYTES \
  (BENCH_IN0 + BENCH_IN1 + BENCH_IN2 + BENCH_IN3 + BENCH_IN4 + BENCH_IN5 + BENCH_IN6 + BENCH_IN7)

/* Longest request payload accepted, announced in HELLO (the host cuts SET_INPUT and GET_OUTPUT into
 * chunks of at most this much). Well below the protocol's 4096: a request whose length field was
 * corrupted on the line is rejected at once instead of swallowing up to 4 KiB of what follows, and
 * the host's resynchronising filler on a retry stays short (BENCH_MAX_REQUEST + 10 bytes). */
#ifndef BENCH_MAX_REQUEST
#define BENCH_MAX_REQUEST 256u
#endif
#if BENCH_MAX_REQUEST < 64u || BENCH_MAX_REQUEST > EDGEQ_PROTO_MAX_PAYLOAD
#error "BENCH_MAX_REQUEST must be 64..EDGEQ_PROTO_MAX_PAYLOAD"
#endif

enum { BENCH_IDLE = 0, BENCH_PROFILING = 1, BENCH_DUMPING = 2 };

uint8_t bench_hook_active; /* read by the hooks in model.c */

static proto_parser_t bench_parser;
static uint8_t bench_inputs[BENCH_INPUT_BYTES + 1];
static uint32_t bench_input_offset[MODEL_NUM_INPUTS + 1];
static uint32_t bench_profile[BENCH_NUM_OPS + 1];
static uint32_t bench_t0;
static uint16_t bench_dump_op;
static uint8_t bench_dump_seq;
static uint8_t bench_dump_done;
static uint32_t bench_runs; /* model runs since boot (INVOKE, PROFILE, DUMP); 0 after a reset */
#if MODEL_STATE_BYTES > 0
static uint8_t bench_state[MODEL_STATE_BYTES]; /* the state the current frame starts from */
#endif
static uint32_t bench_frame;    /* the current frame of the sequence (0 after RESET_STATE) */
static uint8_t bench_frame_ran; /* the model's state is what a run of the current frame left */

void bench_init(void);
void bench_byte(uint8_t c);

/* --- replies -------------------------------------------------------------------------------------- */

static void bench_reply_error(uint8_t seq, uint8_t code, const char *msg) {
  proto_tx_t tx;
  size_t n = strlen(msg);
  if (n > 200) n = 200;
  proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_ERROR, seq, 1 + n);
  proto_tx_u8(&tx, code);
  proto_tx_data(&tx, (const uint8_t *)msg, n);
  proto_tx_end(&tx);
}

static void bench_reply_empty(uint8_t type, uint8_t seq) {
  proto_tx_t tx;
  proto_tx_begin(&tx, platform_write, (uint8_t)(type | EDGEQ_PROTO_REPLY), seq, 0);
  proto_tx_end(&tx);
}

static void bench_reply_u32s(uint8_t type, uint8_t seq, uint32_t a, uint32_t b, unsigned count) {
  proto_tx_t tx;
  proto_tx_begin(&tx, platform_write, (uint8_t)(type | EDGEQ_PROTO_REPLY), seq, 4u * count);
  proto_tx_u32(&tx, a);
  if (count > 1) proto_tx_u32(&tx, b);
  proto_tx_end(&tx);
}

/* --- running the model ---------------------------------------------------------------------------- */

static void bench_load_inputs(void) {
  int i;
  for (i = 0; i < MODEL_NUM_INPUTS; i++) {
    memcpy(model_input(i), bench_inputs + bench_input_offset[i], model_input_bytes(i));
  }
}

static uint32_t bench_run(uint8_t mode) {
  uint32_t t0, t1;
  bench_load_inputs();
#if MODEL_STATE_BYTES > 0
  memcpy(model_state(), bench_state, MODEL_STATE_BYTES); /* every run of a frame starts from its state */
#endif
  bench_frame_ran = 1;
  bench_runs++;
  bench_hook_active = mode;
  t0 = platform_cycles();
  model_invoke();
  t1 = platform_cycles();
  bench_hook_active = BENCH_IDLE;
  return t1 - t0; /* modulo 2^32: right across a counter wrap */
}

void bench_op_begin(int index) {
  (void)index;
  if (bench_hook_active == BENCH_PROFILING) bench_t0 = platform_cycles(); /* last thing before the op */
}

void bench_op_end(int index, const void *data, size_t bytes) {
  uint32_t t = platform_cycles(); /* first thing after the op */
  if (bench_hook_active == BENCH_PROFILING) {
    if (index >= 0 && index < BENCH_NUM_OPS) bench_profile[index] = t - bench_t0;
  } else if (bench_hook_active == BENCH_DUMPING && index >= 0 && (unsigned)index == bench_dump_op &&
             !bench_dump_done) {
    /* Stream the op's output: 0x86 frames of offset:u32 + data, then an empty one at offset = total. */
    const uint8_t *p = (const uint8_t *)data;
    const size_t chunk = EDGEQ_PROTO_MAX_PAYLOAD - 4u;
    size_t off = 0;
    proto_tx_t tx;
    if (p == NULL) bytes = 0;
    while (off < bytes) {
      size_t n = bytes - off < chunk ? bytes - off : chunk;
      proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_DUMP | EDGEQ_PROTO_REPLY, bench_dump_seq, 4u + n);
      proto_tx_u32(&tx, (uint32_t)off);
      proto_tx_data(&tx, p + off, n);
      proto_tx_end(&tx);
      off += n;
    }
    proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_DUMP | EDGEQ_PROTO_REPLY, bench_dump_seq, 4u);
    proto_tx_u32(&tx, (uint32_t)bytes);
    proto_tx_end(&tx);
    bench_dump_done = 1;
  }
}

/* --- requests ------------------------------------------------------------------------------------- */

static void bench_hello(const proto_frame_t *f) {
  static const char name[] = BENCH_BOARD_NAME;
  const size_t name_len = sizeof name - 1 > 255 ? 255 : sizeof name - 1;
  const size_t len = 2 + 1 + name_len + 32 + 4 + 4 + 4 + 1 + 2 + 1 + 4u * MODEL_NUM_INPUTS + 1 +
                     4u * MODEL_NUM_OUTPUTS + 2 + 4;
  proto_tx_t tx;
  int i;
  if (len > EDGEQ_PROTO_MAX_PAYLOAD) {
    bench_reply_error(f->seq, EDGEQ_ERR_TOO_BIG, "HELLO reply too long");
    return;
  }
  proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_HELLO | EDGEQ_PROTO_REPLY, f->seq, len);
  proto_tx_u16(&tx, (uint16_t)EDGEQ_PROTO_VERSION);
  proto_tx_u8(&tx, (uint8_t)name_len);
  proto_tx_data(&tx, (const uint8_t *)name, name_len);
  proto_tx_data(&tx, BENCH_MODEL_SHA256, 32);
  proto_tx_u32(&tx, (uint32_t)MODEL_ARENA_BYTES);
  proto_tx_u32(&tx, platform_stack_size());
  proto_tx_u32(&tx, (uint32_t)BENCH_CLOCK_HZ);
  proto_tx_u8(&tx, (uint8_t)BENCH_COUNTER_KIND);
  proto_tx_u16(&tx, (uint16_t)BENCH_NUM_OPS);
  proto_tx_u8(&tx, (uint8_t)MODEL_NUM_INPUTS);
  for (i = 0; i < MODEL_NUM_INPUTS; i++) proto_tx_u32(&tx, (uint32_t)model_input_bytes(i));
  proto_tx_u8(&tx, (uint8_t)MODEL_NUM_OUTPUTS);
  for (i = 0; i < MODEL_NUM_OUTPUTS; i++) proto_tx_u32(&tx, (uint32_t)model_output_bytes(i));
  proto_tx_u16(&tx, (uint16_t)BENCH_MAX_REQUEST);
  proto_tx_u32(&tx, (uint32_t)MODEL_STATE_BYTES);
  proto_tx_end(&tx);
}

static void bench_set_input(const proto_frame_t *f) {
  uint32_t index, offset, n, size;
  if (f->len < 5) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_LENGTH, "SET_INPUT needs index:u8 offset:u32 data");
    return;
  }
  index = f->payload[0];
  offset = proto_get_u32(f->payload + 1);
  n = (uint32_t)f->len - 5u;
  if (index >= (uint32_t)MODEL_NUM_INPUTS) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_INDEX, "no such input");
    return;
  }
  size = (uint32_t)model_input_bytes((int)index);
  if (offset > size || n > size - offset) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_RANGE, "SET_INPUT offset+length beyond the input");
    return;
  }
  memcpy(bench_inputs + bench_input_offset[index] + offset, f->payload + 5, n);
  bench_reply_empty(f->type, f->seq);
}

static void bench_get_output(const proto_frame_t *f) {
  uint32_t index, offset, n, size;
  proto_tx_t tx;
  if (f->len != 7) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_LENGTH, "GET_OUTPUT needs index:u8 offset:u32 length:u16");
    return;
  }
  index = f->payload[0];
  offset = proto_get_u32(f->payload + 1);
  n = proto_get_u16(f->payload + 5);
  if (index >= (uint32_t)MODEL_NUM_OUTPUTS) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_INDEX, "no such output");
    return;
  }
  size = (uint32_t)model_output_bytes((int)index);
  if (offset > size || n > size - offset) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_RANGE, "GET_OUTPUT offset+length beyond the output");
    return;
  }
  if (n > EDGEQ_PROTO_MAX_PAYLOAD) {
    bench_reply_error(f->seq, EDGEQ_ERR_TOO_BIG, "GET_OUTPUT length above max payload");
    return;
  }
  proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_GET_OUTPUT | EDGEQ_PROTO_REPLY, f->seq, n);
  proto_tx_data(&tx, (const uint8_t *)model_output((int)index) + offset, n);
  proto_tx_end(&tx);
}

static void bench_start_sequence(void) {
  model_reset_state();
#if MODEL_STATE_BYTES > 0
  memcpy(bench_state, model_state(), MODEL_STATE_BYTES);
#endif
  bench_frame = 0;
  bench_frame_ran = 0;
}

/* INVOKE [frame:u32]: cycles, runs since boot, CRC-32 of all inputs (as run) and of all outputs, 16 bytes. */
static void bench_invoke(const proto_frame_t *f) {
  proto_tx_t tx;
  uint32_t cycles, in_crc, out_crc = 0;
  int i;
  if (f->len != 0 && f->len != 4) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_LENGTH, "INVOKE takes no payload or frame:u32");
    return;
  }
  if (f->len == 4) {
    uint32_t frame = proto_get_u32(f->payload);
    if (frame == bench_frame + 1u && bench_frame_ran) { /* the next frame starts where this one ended */
#if MODEL_STATE_BYTES > 0
      memcpy(bench_state, model_state(), MODEL_STATE_BYTES);
#endif
      bench_frame = frame;
      bench_frame_ran = 0;
    } else if (frame != bench_frame) {
      bench_reply_error(f->seq, EDGEQ_ERR_BAD_FRAME, "INVOKE of a frame out of sequence");
      return;
    }
  }
  cycles = bench_run(BENCH_IDLE);
  in_crc = proto_crc32(bench_inputs, BENCH_INPUT_BYTES);
  for (i = 0; i < MODEL_NUM_OUTPUTS; i++) {
    out_crc = proto_crc32_update(out_crc, (const uint8_t *)model_output(i), model_output_bytes(i));
  }
  proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_INVOKE | EDGEQ_PROTO_REPLY, f->seq, 16);
  proto_tx_u32(&tx, cycles);
  proto_tx_u32(&tx, bench_runs);
  proto_tx_u32(&tx, in_crc);
  proto_tx_u32(&tx, out_crc);
  proto_tx_end(&tx);
}

static void bench_profile_run(const proto_frame_t *f) {
  proto_tx_t tx;
  uint32_t i;
  if (2u + 4u * (uint32_t)BENCH_NUM_OPS > EDGEQ_PROTO_MAX_PAYLOAD) {
    bench_reply_error(f->seq, EDGEQ_ERR_TOO_BIG, "too many ops for one PROFILE reply");
    return;
  }
  for (i = 0; i < (uint32_t)BENCH_NUM_OPS; i++) bench_profile[i] = 0; /* ops without a kernel stay 0 */
  (void)bench_run(BENCH_PROFILING);
  proto_tx_begin(&tx, platform_write, EDGEQ_PROTO_PROFILE | EDGEQ_PROTO_REPLY, f->seq, 2u + 4u * BENCH_NUM_OPS);
  proto_tx_u16(&tx, (uint16_t)BENCH_NUM_OPS);
  for (i = 0; i < (uint32_t)BENCH_NUM_OPS; i++) proto_tx_u32(&tx, bench_profile[i]);
  proto_tx_end(&tx);
}

static void bench_dump(const proto_frame_t *f) {
  uint32_t op;
  if (f->len != 2) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_LENGTH, "DUMP needs op:u16");
    return;
  }
  op = proto_get_u16(f->payload);
  if (op >= (uint32_t)BENCH_NUM_OPS) {
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_INDEX, "no such op");
    return;
  }
  bench_dump_op = (uint16_t)op;
  bench_dump_seq = f->seq;
  bench_dump_done = 0;
  (void)bench_run(BENCH_DUMPING);
  if (!bench_dump_done) bench_reply_error(f->seq, EDGEQ_ERR_NO_KERNEL, "op runs no kernel (aliased reshape)");
}

static void bench_handle(const proto_frame_t *f) {
  if (f->type & EDGEQ_PROTO_REPLY || f->type == EDGEQ_PROTO_ERROR) return; /* never answer a reply (echo) */
  if (f->type == EDGEQ_PROTO_SET_INPUT) {
    bench_set_input(f);
    return;
  }
  if (f->type == EDGEQ_PROTO_GET_OUTPUT) {
    bench_get_output(f);
    return;
  }
  if (f->type == EDGEQ_PROTO_DUMP) {
    bench_dump(f);
    return;
  }
  if (f->type == EDGEQ_PROTO_INVOKE) {
    bench_invoke(f);
    return;
  }
  if (f->type < EDGEQ_PROTO_HELLO || f->type > EDGEQ_PROTO_RESET_STATE) {
    bench_reply_error(f->seq, EDGEQ_ERR_UNKNOWN_TYPE, "unknown request type");
    return;
  }
  if (f->len != 0) { /* the remaining requests carry no payload */
    bench_reply_error(f->seq, EDGEQ_ERR_BAD_LENGTH, "request takes no payload");
    return;
  }
  switch (f->type) {
    case EDGEQ_PROTO_HELLO:
      bench_hello(f);
      break;
    case EDGEQ_PROTO_RESET_STATE:
      bench_start_sequence();
      bench_reply_empty(f->type, f->seq);
      break;
    case EDGEQ_PROTO_PROFILE:
      bench_profile_run(f);
      break;
    default: /* EDGEQ_PROTO_STACK */
      bench_reply_u32s(f->type, f->seq, platform_stack_used(), platform_stack_size(), 2);
      break;
  }
}

void bench_init(void) {
  uint32_t off = 0;
  int i;
  for (i = 0; i < MODEL_NUM_INPUTS; i++) {
    bench_input_offset[i] = off;
    off += (uint32_t)model_input_bytes(i);
  }
  memset(bench_inputs, 0, sizeof bench_inputs);
  bench_runs = 0;
  bench_hook_active = BENCH_IDLE;
  bench_start_sequence();
  proto_parser_init(&bench_parser);
  proto_parser_set_max(&bench_parser, BENCH_MAX_REQUEST);
}

void bench_byte(uint8_t c) {
  const proto_frame_t *f = proto_feed(&bench_parser, c);
  if (f != NULL) bench_handle(f);
}

#ifndef EDGEQ_BENCH_NO_MAIN
int main(void) {
  platform_init();
  bench_init();
  for (;;) {
    int c = platform_read_byte();
    if (c < 0 || c > 255) continue;
    bench_byte((uint8_t)c);
  }
}
#endif
