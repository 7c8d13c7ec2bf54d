/* protocol.h - the edgeq bench serial protocol, version 3 (device side; portable C99).
 *
 * Frame (little-endian):
 *   0xED 0x9E | type:u8 | seq:u8 | len:u16 | payload[len] | crc32:u32
 * crc32 is CRC-32/ISO-HDLC (the zlib.crc32 polynomial, reflected, init and final xor 0xFFFFFFFF)
 * over type, seq, len and payload. len <= EDGEQ_PROTO_MAX_PAYLOAD. A reply has the request's seq and
 * type | 0x80, or EDGEQ_PROTO_ERROR (payload: code:u8 then a short ASCII message).
 *
 * The parser is fed one byte at a time and hands out only complete frames whose length is possible and
 * whose CRC is right. Anything else is dropped: it resynchronises by hunting for the next 0xED 0x9E,
 * including inside the bytes of a frame it just rejected, so a truncated frame does not swallow the
 * valid frame that follows it. It never trusts a length: every index is checked against its buffer.
 */
#ifndef EDGEQ_PROTOCOL_H
#define EDGEQ_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEQ_PROTO_VERSION 3u /* v2: INVOKE replies cycles, runs, input and output CRC-32; v3: RESET_STATE,
                                  INVOKE of frame n of a sequence, HELLO ends with the model's state bytes */
#define EDGEQ_PROTO_SYNC0 0xEDu
#define EDGEQ_PROTO_SYNC1 0x9Eu
#define EDGEQ_PROTO_MAX_PAYLOAD 4096u
#define EDGEQ_PROTO_HEADER_BYTES 6u   /* sync0 sync1 type seq len_lo len_hi */
#define EDGEQ_PROTO_OVERHEAD 10u      /* header + crc32 */
#define EDGEQ_PROTO_MAX_FRAME (EDGEQ_PROTO_MAX_PAYLOAD + EDGEQ_PROTO_OVERHEAD)

/* Request types; the reply type is request | EDGEQ_PROTO_REPLY. */
#define EDGEQ_PROTO_HELLO 0x01u
#define EDGEQ_PROTO_SET_INPUT 0x02u
#define EDGEQ_PROTO_INVOKE 0x03u
#define EDGEQ_PROTO_GET_OUTPUT 0x04u
#define EDGEQ_PROTO_PROFILE 0x05u
#define EDGEQ_PROTO_DUMP 0x06u
#define EDGEQ_PROTO_STACK 0x07u
#define EDGEQ_PROTO_RESET_STATE 0x08u /* model_reset_state(): the next frame of the sequence is frame 0 */
#define EDGEQ_PROTO_REPLY 0x80u
#define EDGEQ_PROTO_ERROR 0x7Fu

/* Error codes (first byte of an EDGEQ_PROTO_ERROR payload). */
#define EDGEQ_ERR_UNKNOWN_TYPE 1u /* request type not known */
#define EDGEQ_ERR_BAD_LENGTH 2u   /* payload length wrong for the request */
#define EDGEQ_ERR_BAD_INDEX 3u    /* input/output/op index out of range */
#define EDGEQ_ERR_BAD_RANGE 4u    /* offset/length outside the tensor */
#define EDGEQ_ERR_NO_KERNEL 5u    /* DUMP of an op that runs no kernel (aliased reshape) */
#define EDGEQ_ERR_TOO_BIG 6u      /* the reply would not fit in one frame */
#define EDGEQ_ERR_BAD_FRAME 7u    /* INVOKE of a frame that is neither the current one nor the next */

/* --- CRC-32 (zlib-compatible) ------------------------------------------------------------------- */
/* crc = proto_crc32_update(0, data, n) equals zlib.crc32(data); chain calls to cover several pieces. */
uint32_t proto_crc32_update(uint32_t crc, const uint8_t *data, size_t n);
uint32_t proto_crc32(const uint8_t *data, size_t n);

/* --- parser -------------------------------------------------------------------------------------- */
typedef struct {
  uint8_t type;
  uint8_t seq;
  uint16_t len;
  const uint8_t *payload; /* points into the parser: valid until the next proto_feed() */
} proto_frame_t;

typedef struct {
  uint8_t buf[EDGEQ_PROTO_MAX_FRAME]; /* bytes of the candidate frame, starting at its sync */
  uint32_t n;                         /* bytes held in buf (always <= sizeof buf) */
  uint32_t max_len;                   /* longest payload accepted (<= EDGEQ_PROTO_MAX_PAYLOAD) */
  uint32_t consumed;                  /* bytes of the frame handed out last time, dropped on next feed */
  uint32_t dropped;                   /* statistics: bytes discarded while hunting / rejected frames */
  uint32_t bad_frames;
  proto_frame_t frame;
} proto_parser_t;

void proto_parser_init(proto_parser_t *p);

/* Accept payloads of at most max_len bytes (clamped to 1..EDGEQ_PROTO_MAX_PAYLOAD; init sets the
 * maximum). A candidate frame announcing more is rejected at once instead of swallowing that many
 * bytes: the shorter the limit, the sooner the parser resynchronises after a corrupted length. */
void proto_parser_set_max(proto_parser_t *p, uint32_t max_len);

/* Feed one received byte. Returns a complete, CRC-valid frame, or NULL. */
const proto_frame_t *proto_feed(proto_parser_t *p, uint8_t byte);

/* --- encoder ------------------------------------------------------------------------------------- */
/* Whole frame into a buffer: returns the frame size, or 0 if len > EDGEQ_PROTO_MAX_PAYLOAD, the
 * buffer is too small or payload is NULL with len > 0. */
size_t proto_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len);

/* Streaming transmit without a frame buffer: begin (header), any number of data pieces, end (crc).
 * The framing stays valid whatever the caller does: data beyond the announced length is cut off and
 * a short payload is padded with zeros (and proto_tx_end returns -1). */
typedef void (*proto_write_fn)(const uint8_t *data, size_t n);
typedef struct {
  proto_write_fn write;
  uint32_t crc;
  uint32_t remaining;
} proto_tx_t;

int proto_tx_begin(proto_tx_t *tx, proto_write_fn write, uint8_t type, uint8_t seq, size_t len);
void proto_tx_data(proto_tx_t *tx, const uint8_t *data, size_t n);
void proto_tx_u8(proto_tx_t *tx, uint8_t v);
void proto_tx_u16(proto_tx_t *tx, uint16_t v);
void proto_tx_u32(proto_tx_t *tx, uint32_t v);
int proto_tx_end(proto_tx_t *tx);

/* Little-endian field access. */
static inline uint16_t proto_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | ((unsigned)p[1] << 8)); }
static inline uint32_t proto_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void proto_put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void proto_put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

#ifdef __cplusplus
}
#endif
#endif /* EDGEQ_PROTOCOL_H */
