/* record.c: the record codec (record.h): CRC32C, encoding each record type, decoding a
 * payload, scanning a segment image. Both back ends and recovery share it, so it keeps no
 * state of its own and includes nothing of the store's: writing, rooms and recovery build on
 * it, never the other way round.
 *
 * CRC32C is computed here (a 1 KiB table, slicing by one byte): Debian has no small,
 * standard CRC32C library (libiscsi/libz do CRC32 or other polynomials; OpenSSL has none),
 * and the cost is ~1 ns per byte, small next to an fdatasync.
 */
#include "record.h"

#include "shard.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- CRC32C (Castagnoli, reflected 0x82F63B78) ---- */

static uint32_t crc_table[256];
static _Atomic int crc_ready;

void store_crc32c_init(void)
{
    if (atomic_load_explicit(&crc_ready, memory_order_acquire)) return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    atomic_store_explicit(&crc_ready, 1, memory_order_release);
}

uint32_t store_crc32c(uint32_t crc, const void *data, size_t n)
{
    store_crc32c_init();
    const uint8_t *p = data;
    crc = ~crc;
    while (n--) crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- encoding ---- */

void store_buf_free(struct store_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static bool buf_reserve(struct store_buf *b, size_t n)
{
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

static void put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* A record under construction: header reserved, payload appended, then sealed. A field that
 * does not fit its length prefix fails the record (rec_end drops it). */
struct rec { struct store_buf *b; size_t start; bool ok; };

static void rec_bytes(struct rec *r, const void *p, size_t n)
{
    if (!r->ok || !buf_reserve(r->b, n)) { r->ok = false; return; }
    memcpy(r->b->p + r->b->len, p, n);
    r->b->len += n;
}
static void rec_u64(struct rec *r, uint64_t v) { uint8_t t[8]; put_u64(t, v); rec_bytes(r, t, 8); }
static void rec_str8(struct rec *r, const char *s, size_t n)
{
    if (n > 255) { r->ok = false; return; }
    uint8_t l = (uint8_t)n;
    rec_bytes(r, &l, 1);
    rec_bytes(r, s, n);
}
static void rec_str32(struct rec *r, const char *s, size_t n) { uint8_t t[4]; put_u32(t, (uint32_t)n); rec_bytes(r, t, 4); rec_bytes(r, s, n); }
/* Every record starts with its type and its room. */
static struct rec rec_begin(struct store_buf *b, uint8_t type, const char *room, size_t room_len, size_t payload_hint)
{
    struct rec r = { b, b->len, buf_reserve(b, STORE_HDR + 1 + 1 + room_len + payload_hint) };
    if (r.ok) {
        b->len += STORE_HDR;
        b->p[b->len++] = type;
    }
    rec_str8(&r, room, room_len);
    return r;
}
static bool rec_end(struct rec *r)
{
    if (!r->ok) { r->b->len = r->start; return false; }
    uint8_t *h = r->b->p + r->start;
    uint32_t len = (uint32_t)(r->b->len - r->start - STORE_HDR);
    if (len > STORE_MAX_RECORD) { r->b->len = r->start; return false; }
    put_u32(h, len);
    put_u32(h + 4, store_crc32c(0, h, 4));
    put_u32(h + 8, store_crc32c(0, h + STORE_HDR, len));
    return true;
}

bool store_encode_op(struct store_buf *b, const char *room, size_t room_len, uint64_t rev, uint64_t ts,
                     const char *from, size_t from_len, const char *json, size_t json_len)
{
    return store_encode_op_cid(b, room, room_len, rev, ts, from, from_len, json, json_len, NULL, 0, 0);
}

bool store_encode_op_cid(struct store_buf *b, const char *room, size_t room_len, uint64_t rev, uint64_t ts,
                         const char *from, size_t from_len, const char *json, size_t json_len,
                         const char *cid, size_t cid_len, uint64_t cseq)
{
    if (cid_len > STORE_CID_MAX) return false;
    struct rec r = rec_begin(b, STORE_REC_OP, room, room_len, 16 + 1 + from_len + 4 + json_len + 1 + cid_len + 8);
    rec_u64(&r, rev);
    rec_u64(&r, ts);
    rec_str8(&r, from, from_len);
    rec_str32(&r, json, json_len);
    if (cid_len) {                 /* optional tail (absent in older records): cid, cseq */
        rec_str8(&r, cid, cid_len);
        rec_u64(&r, cseq);
    }
    return rec_end(&r);
}

bool store_encode_snapshot(struct store_buf *b, const char *room, size_t room_len, uint64_t rev,
                           uint64_t chat_seq, const char *text, size_t text_len)
{
    struct rec r = rec_begin(b, STORE_REC_SNAPSHOT, room, room_len, 16 + 4 + text_len);
    rec_u64(&r, rev);
    rec_u64(&r, chat_seq);
    rec_str32(&r, text, text_len);
    return rec_end(&r);
}

bool store_encode_chat(struct store_buf *b, const char *room, size_t room_len, uint64_t seq, uint64_t ts,
                       const char *json, size_t json_len)
{
    struct rec r = rec_begin(b, STORE_REC_CHAT, room, room_len, 16 + 4 + json_len);
    rec_u64(&r, seq);
    rec_u64(&r, ts);
    rec_str32(&r, json, json_len);
    return rec_end(&r);
}

bool store_encode_element(struct store_buf *b, const char *room, size_t room_len, const char *id, size_t id_len,
                          int64_t version, int64_t nonce, const char *json, size_t json_len)
{
    struct rec r = rec_begin(b, STORE_REC_ELEMENT, room, room_len, 4 + id_len + 16 + 4 + json_len);
    rec_str32(&r, id, id_len);
    rec_u64(&r, (uint64_t)version);
    rec_u64(&r, (uint64_t)nonce);
    rec_str32(&r, json, json_len);
    return rec_end(&r);
}

/* ---- decoding ---- */

struct rd { const uint8_t *p; size_t n; bool ok; };
static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (!r->ok || r->n < n) { r->ok = false; return NULL; }
    const uint8_t *p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}
static uint64_t rd_u64(struct rd *r) { const uint8_t *p = rd_take(r, 8); return p ? get_u64(p) : 0; }
static const uint8_t *rd_str8(struct rd *r, uint32_t *len)
{
    const uint8_t *l = rd_take(r, 1);
    *len = l ? *l : 0;
    return rd_take(r, *len);
}
static const uint8_t *rd_str32(struct rd *r, uint32_t *len)
{
    const uint8_t *l = rd_take(r, 4);
    *len = l ? get_u32(l) : 0;
    return rd_take(r, *len);
}

bool store_decode(const uint8_t *payload, size_t len, struct store_rec *o)
{
    if (len < 1) return false;
    memset(o, 0, sizeof *o);
    o->type = payload[0];
    struct rd r = { payload + 1, len - 1, true };
    o->room = (const char *)rd_str8(&r, &o->room_len);
    if (!r.ok || o->room_len < 1 || o->room_len > ROOM_NAME_MAX) return false;
    switch (o->type) {
    case STORE_REC_OP:
        o->rev = rd_u64(&r);
        o->ts = rd_u64(&r);
        o->from = (const char *)rd_str8(&r, &o->from_len);
        o->body = (const char *)rd_str32(&r, &o->body_len);
        if (r.ok && r.n) {           /* the optional tail: cid, cseq */
            o->cid = (const char *)rd_str8(&r, &o->cid_len);
            o->cseq = rd_u64(&r);
            if (o->cid_len == 0 || o->cid_len > STORE_CID_MAX) return false;
        }
        return r.ok && o->rev != 0;       /* trailing bytes: a newer tail, ignored */
    case STORE_REC_SNAPSHOT:
        o->rev = rd_u64(&r);
        o->chat_seq = rd_u64(&r);
        o->body = (const char *)rd_str32(&r, &o->body_len);
        return r.ok;
    case STORE_REC_CHAT:
        o->rev = rd_u64(&r);
        o->ts = rd_u64(&r);
        o->body = (const char *)rd_str32(&r, &o->body_len);
        return r.ok;
    case STORE_REC_ELEMENT:
        o->id = (const char *)rd_str32(&r, &o->id_len);
        o->version = (int64_t)rd_u64(&r);
        o->nonce = (int64_t)rd_u64(&r);
        o->body = (const char *)rd_str32(&r, &o->body_len);
        return r.ok && o->id_len >= 1 && o->id_len <= STORE_ELEMENT_ID_MAX;
    default:
        return false;
    }
}

/* ---- scanning ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

enum store_scan store_scan(const uint8_t *buf, size_t len, size_t *valid_end, size_t *nrecords,
                           const char **why, store_record_fn cb, void *arg)
{
    size_t off = 0, n = 0;
    enum store_scan res = STORE_SCAN_OK;
    *why = NULL;
    while (off < len) {
        size_t rem = len - off;
        const uint8_t *h = buf + off;
        if (rem < STORE_HDR) {
            res = STORE_SCAN_TORN;
            *why = "partial record header at the end";
            break;
        }
        uint32_t rl = get_u32(h);
        if (store_crc32c(0, h, 4) != get_u32(h + 4) || rl == 0 || rl > STORE_MAX_RECORD) {
            if (all_zero(h, rem)) {
                res = STORE_SCAN_TORN;
                *why = "zero-filled tail";
            } else {
                res = STORE_SCAN_CORRUPT;
                *why = "bad record header (length check fails)";
            }
            break;
        }
        if (rl > rem - STORE_HDR) {
            res = STORE_SCAN_TORN;
            *why = "last record cut short";
            break;
        }
        if (store_crc32c(0, h + STORE_HDR, rl) != get_u32(h + 8)) {
            if (rem == STORE_HDR + rl) {
                res = STORE_SCAN_TORN;
                *why = "last record fails its CRC";
            } else {
                res = STORE_SCAN_CORRUPT;
                *why = "record fails its CRC";
            }
            break;
        }
        if (cb) cb(arg, h + STORE_HDR, rl, off);
        off += STORE_HDR + rl;
        n++;
    }
    *valid_end = off;
    if (nrecords) *nrecords = n;
    return res;
}
