/* fuzz_protocol.c - libFuzzer target: arbitrary bytes into the bench firmware's frame parser and
 * request handlers (protocol.c + bench_main.c with a generated model), on the host.
 *
 *   clang -fsanitize=fuzzer,address,undefined -DEDGEQ_BENCH_NO_MAIN -I firmware/bench -I firmware/platform \
 *         -I MODEL_DIR -I CFG_DIR -include firmware/bench/bench_hooks.h (for model.c only) ...
 *
 * (tests/robustness/test_protocol_fuzz.py builds and runs it.) Every input is one byte stream as the
 * UART would deliver it; the first byte selects how it is delivered: even = the whole stream after a
 * fresh start (bench_init), odd = appended to the state left by the previous input (a long-lived
 * board). Every byte the firmware sends back goes through a second parser here and must form valid,
 * complete frames: a reply that is cut short or oversized aborts the run (a reported crash).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "protocol.h"

void bench_init(void);
void bench_byte(uint8_t c);

static proto_parser_t fuzz_replies; /* parses what the firmware sends */
static uint32_t fuzz_reply_bytes;   /* bytes sent since the last complete reply frame */
static uint32_t fuzz_clock;

/* --- platform stub ------------------------------------------------------------------------------- */
void platform_init(void) {}

void platform_write(const uint8_t *data, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    const proto_frame_t *f = proto_feed(&fuzz_replies, data[i]);
    fuzz_reply_bytes++;
    if (f != NULL) {
      /* a reply: type | 0x80 or ERROR, never a request type */
      if (!(f->type & EDGEQ_PROTO_REPLY) && f->type != EDGEQ_PROTO_ERROR) abort();
      if (fuzz_reply_bytes != (uint32_t)f->len + EDGEQ_PROTO_OVERHEAD) abort(); /* no stray bytes */
      fuzz_reply_bytes = 0;
    }
  }
}

int platform_read_byte(void) { abort(); } /* the fuzzer feeds bench_byte() directly */

uint32_t platform_cycles(void) { return fuzz_clock += 7u; }

uint32_t platform_stack_used(void) { return 1024u; }

uint32_t platform_stack_size(void) { return 16384u; }

/* --- the target ------------------------------------------------------------------------------------ */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int started = 0;
  size_t i;
  if (size == 0) return 0;
  if (!started || (data[0] & 1u) == 0) {
    bench_init();
    started = 1;
  }
  proto_parser_init(&fuzz_replies);
  fuzz_reply_bytes = 0;
  for (i = 1; i < size; i++) bench_byte(data[i]);
  if (fuzz_reply_bytes != 0) abort(); /* the last reply was left unfinished */
  return 0;
}
