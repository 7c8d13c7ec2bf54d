/* protocol.c - edgeq bench protocol v2: CRC-32, frame parser and encoder (see protocol.h). */
#include "protocol.h"

#include <string.h>

/* CRC-32/ISO-HDLC, reflected polynomial 0xEDB88320, four bits at a time (16-entry table, 64 bytes). */
static const uint32_t proto_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t proto_crc32_update(uint32_t crc, const uint8_t *data, size_t n) {
  size_t i;
  crc = ~crc;
  for (i = 0; i < n; i++) {
    crc ^= data[i];
    crc = (crc >> 4) ^ proto_crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ proto_crc_nibble[crc & 15u];
  }
  return ~crc;
}

uint32_t proto_crc32(const uint8_t *data, size_t n) { return proto_crc32_update(0, data, n); }

/* --- parser -------------------------------------------------------------------------------------- */

void proto_parser_init(proto_parser_t *p) {
  p->n = 0;
  p->max_len = EDGEQ_PROTO_MAX_PAYLOAD;
  p->consumed = 0;
  p->dropped = 0;
  p->bad_frames = 0;
  p->frame.type = 0;
  p->frame.seq = 0;
  p->frame.len = 0;
  p->frame.payload = p->buf + EDGEQ_PROTO_HEADER_BYTES;
}

void proto_parser_set_max(proto_parser_t *p, uint32_t max_len) {
  if (max_len < 1u) max_len = 1u;
  if (max_len > EDGEQ_PROTO_MAX_PAYLOAD) max_len = EDGEQ_PROTO_MAX_PAYLOAD;
  p->max_len = max_len;
}

/* Discard buf[0..from) and then everything up to the next SYNC0 byte. */
static void proto_skip(proto_parser_t *p, uint32_t from) {
  uint32_t i = from < p->n ? from : p->n;
  while (i < p->n && p->buf[i] != EDGEQ_PROTO_SYNC0) i++;
  if (i == 0) return;
  p->dropped += i;
  p->n -= i;
  if (p->n) memmove(p->buf, p->buf + i, p->n);
}

/* Look for a frame at the start of buf; on any inconsistency drop the sync byte and look again
 * further on (the rejected bytes may contain the start of a real frame). */
static const proto_frame_t *proto_scan(proto_parser_t *p) {
  for (;;) {
    uint32_t len, total;
    proto_skip(p, 0);
    if (p->n < 2) return NULL;
    if (p->buf[1] != EDGEQ_PROTO_SYNC1) {
      proto_skip(p, 1);
      continue;
    }
    if (p->n < EDGEQ_PROTO_HEADER_BYTES) return NULL;
    len = proto_get_u16(p->buf + 4);
    if (len > p->max_len || len > EDGEQ_PROTO_MAX_PAYLOAD) {
      p->bad_frames++;
      proto_skip(p, 1);
      continue;
    }
    total = len + EDGEQ_PROTO_OVERHEAD; /* <= sizeof p->buf because len <= MAX_PAYLOAD */
    if (p->n < total) return NULL;
    if (proto_crc32(p->buf + 2, 4u + len) != proto_get_u32(p->buf + EDGEQ_PROTO_HEADER_BYTES + len)) {
      p->bad_frames++;
      proto_skip(p, 1);
      continue;
    }
    p->frame.type = p->buf[2];
    p->frame.seq = p->buf[3];
    p->frame.len = (uint16_t)len;
    p->frame.payload = p->buf + EDGEQ_PROTO_HEADER_BYTES;
    p->consumed = total;
    return &p->frame;
  }
}

const proto_frame_t *proto_feed(proto_parser_t *p, uint8_t byte) {
  if (p->consumed) { /* the frame handed out last time is done with */
    uint32_t c = p->consumed <= p->n ? p->consumed : p->n;
    p->n -= c;
    if (p->n) memmove(p->buf, p->buf + c, p->n);
    p->consumed = 0;
  }
  if (p->n >= sizeof p->buf) proto_skip(p, 1); /* cannot happen (a full buffer always resolves) */
  if (p->n >= sizeof p->buf) p->n = 0;
  if (p->n == 0 && byte != EDGEQ_PROTO_SYNC0) { /* hunting: the common idle case, O(1) */
    p->dropped++;
    return NULL;
  }
  p->buf[p->n++] = byte;
  return proto_scan(p); /* O(1) until a frame is complete, unless something is rejected */
}

/* --- encoder ------------------------------------------------------------------------------------- */

size_t proto_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t seq, const uint8_t *payload, size_t len) {
  size_t total;
  uint32_t crc;
  if (len > EDGEQ_PROTO_MAX_PAYLOAD || out == NULL || (payload == NULL && len > 0)) return 0;
  total = len + EDGEQ_PROTO_OVERHEAD;
  if (cap < total) return 0;
  out[0] = (uint8_t)EDGEQ_PROTO_SYNC0;
  out[1] = (uint8_t)EDGEQ_PROTO_SYNC1;
  out[2] = type;
  out[3] = seq;
  proto_put_u16(out + 4, (uint16_t)len);
  if (len) memmove(out + EDGEQ_PROTO_HEADER_BYTES, payload, len);
  crc = proto_crc32(out + 2, 4u + len);
  proto_put_u32(out + EDGEQ_PROTO_HEADER_BYTES + len, crc);
  return total;
}

int proto_tx_begin(proto_tx_t *tx, proto_write_fn write, uint8_t type, uint8_t seq, size_t len) {
  uint8_t h[EDGEQ_PROTO_HEADER_BYTES];
  tx->write = NULL;
  tx->remaining = 0;
  tx->crc = 0;
  if (write == NULL || len > EDGEQ_PROTO_MAX_PAYLOAD) return -1;
  h[0] = (uint8_t)EDGEQ_PROTO_SYNC0;
  h[1] = (uint8_t)EDGEQ_PROTO_SYNC1;
  h[2] = type;
  h[3] = seq;
  proto_put_u16(h + 4, (uint16_t)len);
  tx->write = write;
  tx->crc = proto_crc32_update(0, h + 2, 4);
  tx->remaining = (uint32_t)len;
  write(h, sizeof h);
  return 0;
}

void proto_tx_data(proto_tx_t *tx, const uint8_t *data, size_t n) {
  if (tx->write == NULL || data == NULL) return;
  if (n > tx->remaining) n = tx->remaining;
  if (n == 0) return;
  tx->crc = proto_crc32_update(tx->crc, data, n);
  tx->write(data, n);
  tx->remaining -= (uint32_t)n;
}

void proto_tx_u8(proto_tx_t *tx, uint8_t v) { proto_tx_data(tx, &v, 1); }

void proto_tx_u16(proto_tx_t *tx, uint16_t v) {
  uint8_t b[2];
  proto_put_u16(b, v);
  proto_tx_data(tx, b, 2);
}

void proto_tx_u32(proto_tx_t *tx, uint32_t v) {
  uint8_t b[4];
  proto_put_u32(b, v);
  proto_tx_data(tx, b, 4);
}

int proto_tx_end(proto_tx_t *tx) {
  static const uint8_t zeros[16] = {0};
  uint8_t c[4];
  int rc = 0;
  if (tx->write == NULL) return -1;
  while (tx->remaining) { /* the caller wrote less than it announced: keep the framing valid */
    proto_tx_data(tx, zeros, tx->remaining < sizeof zeros ? tx->remaining : sizeof zeros);
    rc = -1;
  }
  proto_put_u32(c, tx->crc);
  tx->write(c, 4);
  tx->write = NULL;
  return rc;
}
