/* ws.c: RFC 6455 frame reader and writer (see ws.h). Written here because no Debian library
 * offers a framing-only, zero-copy, incremental parser that can stop between events (libwebsockets
 * and wslay own the socket or the buffers). SHA-1 and base64 for the handshake come from
 * OpenSSL. */
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], size_t offset)
{
    uint8_t m[8];
    for (int i = 0; i < 8; i++) m[i] = mask[(offset + (size_t)i) & 3];
    uint64_t m64;
    memcpy(&m64, m, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= m64;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++) p[i] ^= m[i & 7];
}

size_t ws_frame_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len, const uint8_t *mask)
{
    size_t n;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (len < 126) {
        out[1] = (uint8_t)(mbit | len);
        n = 2;
    } else if (len <= 0xFFFF) {
        out[1] = mbit | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = mbit | 127;
        for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

size_t ws_close_payload(uint8_t *out, uint16_t code, const char *reason)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > WS_MAX_CONTROL - 2) {
        rl = WS_MAX_CONTROL - 2;
        while (rl > 0 && ((uint8_t)reason[rl] & 0xC0) == 0x80) rl--;   /* UTF-8 boundary */
    }
    if (rl) memcpy(out + 2, reason, rl);
    return 2 + rl;
}

bool ws_close_code_valid(uint32_t code)
{
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

bool ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
    /* base64 of 16 bytes is 24 characters ending in "==". */
    if (key_len != 24 || key[22] != '=' || key[23] != '=') return false;
    unsigned char raw[20];
    if (EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18) return false;
    for (size_t i = 0; i < 22; i++) {
        char c = key[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
        if (!ok) return false;
    }
    unsigned char buf[24 + sizeof WS_GUID - 1];
    memcpy(buf, key, 24);
    memcpy(buf + 24, WS_GUID, sizeof WS_GUID - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(buf, sizeof buf, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    out[WS_ACCEPT_LEN] = '\0';
    return true;
}

void ws_reader_reset(struct ws_reader *r)
{
    free(r->msg);
    free(r->ctl);
    memset(r, 0, sizeof *r);
}

bool ws_reader_idle(const struct ws_reader *r)
{
    return !r->in_frame && r->hdr_len == 0 && r->msg_op == 0;
}

static void fail(struct ws_reader *r, struct ws_event *ev, uint16_t code, const char *why)
{
    r->failed = true;
    ev->type = WS_EV_ERROR;
    ev->code = code;
    ev->why = why;
    ev->data = NULL;
    ev->len = 0;
}

static size_t header_size(const uint8_t *h)
{
    size_t n = 2;
    uint8_t l7 = h[1] & 0x7F;
    if (l7 == 126) n += 2;
    else if (l7 == 127) n += 8;
    if (h[1] & 0x80) n += 4;
    return n;
}

/* Checks what the first two header bytes alone decide, so bad frames fail before their
 * length or payload arrives. Returns the close code, or 0. */
static uint16_t check_first_bytes(const struct ws_reader *r, const struct ws_limits *lim,
                                  const char **why)
{
    uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
    uint8_t op = b0 & 0x0F;
    bool fin = b0 & 0x80, masked = b1 & 0x80;
    uint8_t l7 = b1 & 0x7F;
    if (b0 & 0x70) { *why = "reserved bits set"; return WS_CLOSE_PROTOCOL; }
    if (masked != lim->peer_masks) {
        *why = lim->peer_masks ? "client frame not masked" : "server frame masked";
        return WS_CLOSE_PROTOCOL;
    }
    switch (op) {
    case WS_OP_CONT:
        if (!r->msg_op) { *why = "continuation without a message"; return WS_CLOSE_PROTOCOL; }
        break;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (r->msg_op) { *why = "new message inside a fragmented one"; return WS_CLOSE_PROTOCOL; }
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!fin) { *why = "fragmented control frame"; return WS_CLOSE_PROTOCOL; }
        if (l7 > WS_MAX_CONTROL) { *why = "control frame over 125 bytes"; return WS_CLOSE_PROTOCOL; }
        break;
    default:
        *why = "reserved opcode";
        return WS_CLOSE_PROTOCOL;
    }
    return 0;
}

static bool msg_append(struct ws_reader *r, const uint8_t *p, size_t n)
{
    if (r->msg_len + n > r->msg_cap) {
        size_t cap = r->msg_cap ? r->msg_cap : 1024;
        while (cap < r->msg_len + n) cap *= 2;
        uint8_t *m = realloc(r->msg, cap);
        if (!m) return false;
        r->msg = m;
        r->msg_cap = cap;
    }
    memcpy(r->msg + r->msg_len, p, n);
    r->msg_len += n;
    return true;
}

/* A complete control frame: turns its payload into an event. */
static void control_event(struct ws_reader *r, const uint8_t *p, size_t n, struct ws_event *ev)
{
    ev->data = p;
    ev->len = n;
    if (r->frame_op == WS_OP_PING) { ev->type = WS_EV_PING; return; }
    if (r->frame_op == WS_OP_PONG) { ev->type = WS_EV_PONG; return; }
    if (n == 0) {
        ev->type = WS_EV_CLOSE;
        ev->code = WS_CLOSE_NO_STATUS;
        return;
    }
    if (n == 1) return fail(r, ev, WS_CLOSE_PROTOCOL, "close payload of 1 byte");
    uint16_t code = (uint16_t)(p[0] << 8 | p[1]);
    if (!ws_close_code_valid(code)) return fail(r, ev, WS_CLOSE_PROTOCOL, "invalid close code");
    if (!utf8_valid(p + 2, n - 2)) return fail(r, ev, WS_CLOSE_PROTOCOL, "close reason not UTF-8");
    ev->type = WS_EV_CLOSE;
    ev->code = code;
    ev->data = p + 2;
    ev->len = n - 2;
}

void ws_reader_next(struct ws_reader *r, const struct ws_limits *lim, uint8_t *in, size_t len,
                    size_t *used, struct ws_event *ev)
{
    size_t pos = 0;
    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_NEED_MORE;
    if (r->failed) {
        *used = 0;
        return fail(r, ev, WS_CLOSE_PROTOCOL, "reader failed earlier");
    }
    if (r->release) {             /* the previous event's buffered payload is consumed now */
        r->release = false;
        free(r->ctl);             /* rare (a control frame split across reads): keep idle memory low */
        r->ctl = NULL;
        r->ctl_len = 0;
        if (r->msg_op == 0) {
            free(r->msg);
            r->msg = NULL;
            r->msg_len = r->msg_cap = 0;
        }
    }
    for (;;) {
        if (!r->in_frame) {
            while (r->hdr_len < 2 && pos < len) r->hdr[r->hdr_len++] = in[pos++];
            if (r->hdr_len < 2) break;
            if (r->hdr_len == 2) {
                const char *why;
                uint16_t code = check_first_bytes(r, lim, &why);
                if (code) { *used = pos; return fail(r, ev, code, why); }
            }
            size_t need = header_size(r->hdr);
            size_t take = need - r->hdr_len;
            if (take > len - pos) take = len - pos;
            memcpy(r->hdr + r->hdr_len, in + pos, take);
            r->hdr_len = (uint8_t)(r->hdr_len + take);
            pos += take;
            if (r->hdr_len < need) break;

            const uint8_t *h = r->hdr;
            uint64_t flen = h[1] & 0x7F;
            size_t at = 2;
            if (flen == 126) {
                flen = (uint64_t)h[2] << 8 | h[3];
                at = 4;
            } else if (flen == 127) {
                flen = 0;
                for (int i = 0; i < 8; i++) flen = flen << 8 | h[2 + i];
                at = 10;
                if (flen >> 63) { *used = pos; return fail(r, ev, WS_CLOSE_PROTOCOL, "64-bit length with the top bit set"); }
            }
            r->frame_masked = h[1] & 0x80;
            if (r->frame_masked) memcpy(r->mask, h + at, 4);
            r->frame_op = h[0] & 0x0F;
            r->frame_fin = h[0] & 0x80;
            r->hdr_len = 0;
            bool data = r->frame_op < WS_OP_CLOSE;
            if (data) {
                if (flen > lim->max_frame) { *used = pos; return fail(r, ev, WS_CLOSE_TOO_BIG, "frame too big"); }
                if (r->msg_len + flen > lim->max_message) { *used = pos; return fail(r, ev, WS_CLOSE_TOO_BIG, "message too big"); }
                if (r->frame_op != WS_OP_CONT) {
                    r->msg_op = r->frame_op;
                    r->utf8 = UTF8_START;
                }
            }
            r->frame_len = r->remaining = flen;
            r->mask_pos = 0;
            r->in_frame = true;
        }

        /* payload */
        size_t take = r->remaining < len - pos ? (size_t)r->remaining : len - pos;
        uint8_t *p = in + pos;
        bool whole = take == r->frame_len;     /* the entire payload is in this buffer */
        if (r->frame_masked) {
            ws_mask(p, take, r->mask, r->mask_pos);
            r->mask_pos = (uint8_t)((r->mask_pos + take) & 3);
        }
        pos += take;
        r->remaining -= take;
        if (r->frame_op >= WS_OP_CLOSE) {
            if (r->remaining == 0 && whole) {
                r->in_frame = false;
                *used = pos;
                return control_event(r, p, take, ev);
            }
            if (take) {
                if (!r->ctl && !(r->ctl = malloc(WS_MAX_CONTROL))) {
                    *used = pos;
                    return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory");
                }
                memcpy(r->ctl + r->ctl_len, p, take);
                r->ctl_len = (uint8_t)(r->ctl_len + take);
            }
            if (r->remaining) break;
            r->in_frame = false;
            r->release = true;
            *used = pos;
            return control_event(r, r->ctl, r->ctl_len, ev);
        }
        if (r->msg_op == WS_OP_TEXT && !utf8_feed(&r->utf8, p, take)) {
            *used = pos;
            return fail(r, ev, WS_CLOSE_BAD_DATA, "text is not valid UTF-8");
        }
        bool direct = whole && r->frame_fin && r->msg_len == 0;
        if (!direct && take && !msg_append(r, p, take)) {
            *used = pos;
            return fail(r, ev, WS_CLOSE_INTERNAL, "out of memory");
        }
        if (r->remaining) break;
        r->in_frame = false;
        if (!r->frame_fin) continue;           /* next fragment */
        if (r->msg_op == WS_OP_TEXT && !utf8_at_boundary(r->utf8)) {
            *used = pos;
            return fail(r, ev, WS_CLOSE_BAD_DATA, "text ends inside a UTF-8 sequence");
        }
        ev->type = WS_EV_MESSAGE;
        ev->opcode = r->msg_op;
        r->msg_op = 0;
        if (direct) {
            ev->data = p;
            ev->len = take;
        } else {
            ev->data = r->msg;
            ev->len = r->msg_len;
            r->release = true;
        }
        *used = pos;
        return;
    }
    *used = pos;
}
