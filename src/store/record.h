/* record.h: the store's record codec, the one format both back ends speak (docs/persistence.md).
 *
 * Owns: the framing of a record (length, CRC32C of the length, CRC32C of the payload), the
 * payload layout of each record type (op, snapshot, chat, canvas element), decoding a payload
 * back, and scanning a segment image record by record (whole, torn tail, corrupt middle).
 *
 * Callers: the op log's write path and stored rooms encode (writer.c, rooms.c); recovery scans
 * and decodes (recovery.c); the MongoDB back end decodes a batch into documents and encodes
 * the documents it loads back into records (mongo_batch.c, mongo.c); the unit tests.
 *
 * Threading: pure functions over the caller's buffers, safe on any thread. The only shared
 * state is the CRC32C table, built once: store_crc32c_init() on the main thread before other
 * threads run (store_open does), else on first use.
 *
 * This is the codec layer (src/LAYERS): it includes base headers only, nothing of the
 * store's state (store.h, internal.h).
 */
#ifndef RINGROOM_STORE_RECORD_H
#define RINGROOM_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A record: u32 len (of the payload), u32 crc32c(len's 4 bytes), u32 crc32c(payload),
 * payload (type byte first). Little-endian. */
#define STORE_HDR 12
#define STORE_MAX_RECORD (64u << 20)
enum store_rec_type { STORE_REC_OP = 1, STORE_REC_SNAPSHOT = 2, STORE_REC_CHAT = 3, STORE_REC_ELEMENT = 4 };

/* The longest client id an op record carries (store.h: idempotent resubmission) and the
 * longest canvas element id (store.h: canvas elements). */
#define STORE_CID_MAX 64
#define STORE_ELEMENT_ID_MAX 256

void store_crc32c_init(void);
uint32_t store_crc32c(uint32_t crc, const void *data, size_t n);

struct store_buf { uint8_t *p; size_t len, cap; };
void store_buf_free(struct store_buf *b);
bool store_encode_op(struct store_buf *b, const char *room, size_t room_len, uint64_t rev, uint64_t ts,
                     const char *from, size_t from_len, const char *json, size_t json_len);
/* The same with the optional tail of newer records: str8 cid, u64 cseq (only when cid_len > 0;
 * recovery reads records with and without it). */
bool store_encode_op_cid(struct store_buf *b, const char *room, size_t room_len, uint64_t rev, uint64_t ts,
                         const char *from, size_t from_len, const char *json, size_t json_len,
                         const char *cid, size_t cid_len, uint64_t cseq);
bool store_encode_snapshot(struct store_buf *b, const char *room, size_t room_len, uint64_t rev,
                           uint64_t chat_seq, const char *text, size_t text_len);
bool store_encode_chat(struct store_buf *b, const char *room, size_t room_len, uint64_t seq, uint64_t ts,
                       const char *json, size_t json_len);
bool store_encode_element(struct store_buf *b, const char *room, size_t room_len, const char *id, size_t id_len,
                          int64_t version, int64_t nonce, const char *json, size_t json_len);

/* A record's payload, decoded (pointers into the payload). */
struct store_rec {
    enum store_rec_type type;
    const char *room;
    uint32_t room_len;
    uint64_t rev;             /* op, snapshot: the revision; chat: the message's seq */
    uint64_t ts;              /* op, chat: ms since the epoch */
    uint64_t chat_seq;        /* snapshot: the room's chat seq at that revision */
    const char *from;         /* op: participant id */
    uint32_t from_len;
    const char *body;         /* op: ot.js JSON; snapshot: document text; chat: the message's JSON;
                               * element: the element object */
    uint32_t body_len;
    const char *id;           /* element: its id, version, nonce */
    uint32_t id_len;
    int64_t version, nonce;
    const char *cid;          /* op, optional (cid_len 0: none) */
    uint32_t cid_len;
    uint64_t cseq;
};
/* False if the payload does not have the layout of its type. */
bool store_decode(const uint8_t *payload, size_t len, struct store_rec *out);

enum store_scan { STORE_SCAN_OK, STORE_SCAN_TORN, STORE_SCAN_CORRUPT };
/* Walks the records of a segment image. *valid_end = bytes of whole, valid records;
 * TORN: what follows is a torn or corrupt last record (or a zero tail): truncating to
 * *valid_end is safe; CORRUPT: a bad record with more data after it (middle of a segment).
 * *why names the problem. cb (may be NULL) sees each valid payload. */
typedef void (*store_record_fn)(void *arg, const uint8_t *payload, size_t len, size_t off);
enum store_scan store_scan(const uint8_t *buf, size_t len, size_t *valid_end, size_t *nrecords,
                           const char **why, store_record_fn cb, void *arg);

#endif
