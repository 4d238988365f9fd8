/* internal.h: what the store's own .c files share. Not part of the store's contract (that is
 * store.h): nothing outside src/store/ includes it, and its layout may change with them.
 *
 * Owns the definitions of the store's structures: struct store (one per process), struct
 * store_core (one per core: its table of stored rooms, its byte stream, waiters, segments and
 * checkpoints), struct store_room (one per stored room) and the small ones they hold. It
 * declares the functions one store file lends another, listed below by the file that defines
 * them. The calls go one way: recovery.c calls writer.c and rooms.c, writer.c calls rooms.c,
 * rooms.c calls neither (all three use record.c, the codec).
 *
 * Threading, as store.h says: struct store is the main thread's (store_open, store_close);
 * once the cores run, a store_core, its stored rooms and everything they point to belong to
 * that core's thread, and only store->next_seg, cores_checkpointed and degraded are shared
 * (atomics).
 */
#ifndef RINGROOM_STORE_INTERNAL_H
#define RINGROOM_STORE_INTERNAL_H

#include "store.h"

#include "config.h"
#include "doc.h"
#include "record.h"
#include "shard.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core;
struct mongo_store;
struct mongo_writer;

/* Segment file names (seg-<16 digits>.log). */

struct seg_names { char (*v)[32]; size_t n, cap; };

struct chat_msg { char *json; uint32_t len; uint64_t seq, ts; };
struct element { char *id; uint32_t id_len, json_len; int64_t version, nonce; char *json; };   /* id NULL: empty */
/* idempotent resubmission: a client id's highest applied cseq and the revision it created */
struct cid_ent { uint64_t cseq, rev; uint8_t len; char id[STORE_CID_MAX]; };

struct store_room {
    struct store_room *hnext;
    uint64_t hash;
    char name[ROOM_NAME_MAX + 1];
    size_t name_len;
    doc *doc;
    void *live;
    uint64_t durable_rev;
    uint64_t chat_seq;
    uint64_t snap_rev;
    uint64_t fence_rev;            /* MongoDB: first revision another writer holds (0: none) */
    struct store_op *ops;          /* ring, oldest at ops_head */
    uint32_t ops_cap, ops_head, ops_count, ops_max;
    struct chat_msg *chat;         /* ring, oldest at chat_head */
    uint32_t chat_cap, chat_head, chat_count;
    struct cid_ent *cids;          /* unordered; entries whose rev left the op ring are dropped */
    uint32_t ncids, cids_cap;
    struct element *elements;      /* open addressing, linear probing; never deleted (LWW keeps tombstones) */
    uint32_t nelements, elements_cap;
};

/* An op waiting for its record to be durable (ack_only: a resubmission waiting for it). */
struct waiter { uint64_t end; struct store_room *sr; uint64_t rev; uint32_t conn_idx, conn_gen; bool ack_only; };

struct store_core {
    struct store *st;
    struct core *co;
    uint32_t id;
    store_durable_fn on_durable;
    void *durable_arg;
    struct store_room **buckets;
    uint32_t nbuckets, count;
    int fd;
    char seg_name[32];
    uint64_t seg_off;
    struct store_buf fill, flight;
    size_t flight_written;
    uint64_t appended, durable;    /* positions in this core's byte stream since start */
    int inflight;                  /* CQEs outstanding */
    int chain_err;                 /* first error of the current chain */
    bool chain_synced, fsync_failed;
    bool unavailable;
    uint64_t retry_at_ms;
    uint64_t t_submit, t_written;
    struct mongo_writer *mw;       /* --store mongodb://: where flight goes instead of fd */
    /* online checkpoints (writer.c: checkpoint_start) */
    struct seg_names closed;       /* segments this core closed and no checkpoint covers yet */
    struct seg_names cp_closed;    /* those the checkpoint being written covers */
    struct seg_names doomed;       /* removed once the byte stream is durable up to doomed_at */
    uint64_t doomed_at;
    struct seg_names removing;     /* being unlinked through the ring, then the directory fsynced */
    size_t removing_left;          /* unlinks not completed yet */
    uint64_t since_cp, last_cp_bytes, cp_bytes;
    struct store_room **cp_rooms;  /* the checkpoint being written: its rooms, the next one */
    size_t cp_n, cp_next, cp_slices;
    bool checkpointed;             /* at least one checkpoint became durable */
    uint64_t mongo_count;          /* the writer's eventfd, read by the ring */
    struct waiter *w;
    size_t w_head, w_len, w_cap;
};

struct store {
    struct config cfg;
    int dirfd, lockfd;
    struct mongo_store *mongo;
    struct seg_names startup;      /* segments from before this start (read-only once cores run) */
    _Atomic uint32_t cores_checkpointed;
    uint32_t ncores;
    struct store_core *cores;
    _Atomic uint64_t next_seg;
    _Atomic uint32_t degraded;
};

/* ---- rooms.c: stored rooms ---- */

/* A new stored room, empty (no doc yet: the caller makes it); NULL if len > ROOM_NAME_MAX or
 * out of memory. sroom_insert puts it on a core's table, sroom_free frees it and all it holds. */
struct store_room *sroom_new(const struct config *cfg, const char *name, size_t len);
void sroom_insert(struct store_core *sc, struct store_room *sr);
void sroom_free(struct store_room *sr);
/* Appends to the op ring, taking ownership of from/op. Never evicts an op that is not durable
 * yet (room.c needs it to broadcast): the ring grows instead. */
bool sroom_push_op(struct store_room *sr, uint64_t rev, uint64_t ts, char *from, uint32_t from_len, char *op,
                   uint32_t op_len);
/* Appends a copy of the chat message to the chat ring of at most max messages. */
bool sroom_push_chat(struct store_room *sr, uint32_t max, uint64_t seq, uint64_t ts, const char *json, size_t len);
/* Remembers that cid's op cseq created revision rev (keeps the highest cseq). */
void cid_note(struct store_room *sr, const char *cid, size_t len, uint64_t cseq, uint64_t rev);
/* The last-writer-wins merge of a canvas element, in memory only. */
enum store_element_put element_merge(struct store_room *sr, const char *id, size_t id_len, int64_t version,
                                     int64_t nonce, const char *json, size_t len, uint32_t max_elements);
/* Appends to b the records of everything recovery needs of the room (a checkpoint's part). */
bool encode_room_state(struct store_buf *b, struct store_room *sr);

/* ---- writer.c: segments ---- */

/* Creates the next segment (its name into name) and makes its name durable; -1 with err set. */
int open_segment(struct store *st, char name[32], char *err, size_t errlen);
/* Appends name; false (nothing kept) if out of memory. */
bool names_push(struct seg_names *l, const char *name);

#endif
