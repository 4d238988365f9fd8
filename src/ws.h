/* ws.h: RFC 6455 framing without extensions, for both ends (server and ringload).
 *
 * ws_reader is a pull parser: the caller hands it whatever bytes arrived and gets back one
 * event at a time plus how many bytes it consumed, so the caller can stop between events
 * (a connection moving to another core keeps its unread bytes). Payloads are unmasked in
 * place; a message that arrived whole in one buffer is delivered without copying, anything
 * split (fragments, TCP boundaries) is assembled in a buffer the reader owns. Text is checked
 * as UTF-8 byte by byte and fails fast (1007). The reader owns its buffers; nothing else.
 */
#ifndef RINGROOM_WS_H
#define RINGROOM_WS_H

#include "utf8.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode { WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
                 WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA };

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001, WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003, WS_CLOSE_NO_STATUS = 1005, WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_BAD_DATA = 1007, WS_CLOSE_POLICY = 1008, WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011, WS_CLOSE_TRY_LATER = 1013,
};

#define WS_MAX_HEADER 14          /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_MAX_CONTROL 125
#define WS_ACCEPT_LEN 28          /* base64 of a SHA-1 digest */

struct ws_limits {
    uint64_t max_frame;           /* payload bytes of one frame */
    uint64_t max_message;         /* bytes of one assembled message */
    bool peer_masks;              /* true on the server: client frames must be masked */
};

struct ws_reader {
    uint64_t remaining;           /* payload bytes left in the current frame */
    uint64_t frame_len;
    uint8_t *msg;                 /* assembled data message (owned) */
    size_t msg_len, msg_cap;
    uint8_t *ctl;                 /* a control frame split across reads (owned, 125 B) */
    uint8_t ctl_len;
    uint8_t hdr_len;
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t mask[4];
    uint8_t mask_pos;
    uint8_t frame_op;
    uint8_t msg_op;               /* TEXT/BINARY while a data message is in progress */
    bool in_frame, frame_fin, frame_masked, failed, release;
    utf8_state utf8;
};

enum ws_event_type { WS_EV_NEED_MORE, WS_EV_MESSAGE, WS_EV_PING, WS_EV_PONG, WS_EV_CLOSE, WS_EV_ERROR };

struct ws_event {
    enum ws_event_type type;
    uint8_t opcode;               /* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
    uint16_t code;                /* CLOSE: code received (1005 if none); ERROR: code to send */
    const uint8_t *data;          /* MESSAGE/PING/PONG payload, CLOSE reason; valid until the next call */
    size_t len;
    const char *why;              /* ERROR: a short static description */
};

/* Consumes bytes of in[0..len) (unmasking them in place) until one event is complete or the
 * input is used up (WS_EV_NEED_MORE). *used is what it consumed. After WS_EV_ERROR the
 * reader stays failed; the caller closes with ev->code. */
void ws_reader_next(struct ws_reader *r, const struct ws_limits *lim, uint8_t *in, size_t len,
                    size_t *used, struct ws_event *ev);

/* Frees what the reader holds and makes it fresh. */
void ws_reader_reset(struct ws_reader *r);

/* True between frames with no message in progress (nothing buffered). */
bool ws_reader_idle(const struct ws_reader *r);

/* Writes a frame header for a payload of `len` bytes into out[0..WS_MAX_HEADER) and returns
 * its size. mask == NULL: an unmasked (server) frame. */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len, const uint8_t *mask);

/* XORs p[0..n) with the mask, starting at mask byte `offset` (0..3). */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset);

/* Close frame payload: code + reason (truncated to fit 125 bytes at a UTF-8 boundary). */
size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason);

/* A close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(uint32_t code);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key. The key must be the base64 of 16 bytes;
 * returns false otherwise. out gets WS_ACCEPT_LEN chars and a NUL. */
bool ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

#endif
