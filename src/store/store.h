/* store.h: durable storage of rooms (issue 6): the embedded op log, or MongoDB with
 * --store mongodb://... (src/store/mongo.c writes the same records there). The store's files:
 * record.c (the record codec), rooms.c (stored rooms in memory), writer.c (the write path:
 * group commit, waiters, segments, online checkpoints), recovery.c (store_open: recovery,
 * start-up compaction; store_close); internal.h holds what they share.
 *
 * What is stored: every accepted OT op {room, rev, op JSON, from, ts, and the client's cid/cseq
 * if it gave one (docs/protocol.md, resubmission)}, every chat message, every canvas element
 * that won its last-writer-wins merge, and per-room snapshots {room, rev, doc text, chat seq}
 * every --snapshot-every ops. Each
 * core appends to its own segment files in --data-dir through its own io_uring
 * (IORING_OP_WRITE linked to IORING_OP_FSYNC/DATASYNC), so no core ever blocks on the disk
 * and no lock is shared. Records are framed with a length and CRC32C (record.h,
 * docs/persistence.md).
 *
 * Durability: store_append_op() returns at once; the op is "durable" when the fdatasync
 * covering its bytes completed (group commit: one write + fdatasync in flight per core, all
 * records appended meanwhile go in the next one). Then the core's on_durable callback runs
 * (room.c sends the ack and broadcasts the op). With --fsync off the write completion is
 * enough (page cache: survives a process crash, not a power loss).
 *
 * Recovery: store_open() (main thread, before any core runs) reads every segment of every
 * core, whatever the thread count was when it was written, truncates torn tails, refuses
 * corruption in the middle of a segment (unless --recover-truncate), and rebuilds every
 * room (doc at its latest revision, the last --history-window ops, the last --chat-history
 * chat messages) into the table of the core that owns it now. Those "stored rooms" stay in
 * memory for the life of the process: a room freed when empty keeps its stored room, so a
 * later join finds its document.
 *
 * Ownership: struct store belongs to the server (main thread creates and frees it); a
 * store_core and its stored rooms belong to one core after the cores start; a stored room
 * owns its doc (room.c borrows it while the room is in memory).
 *
 * Callers: server.c opens and closes the store; core.c drives each store_core from its loop
 * (attach, flush, completions, tick, finish); room.c reads and appends to stored rooms;
 * api.c and metrics.c read rooms' history and store_degraded. The store calls upward only
 * through the on_durable callback a core attaches.
 */
#ifndef RINGROOM_STORE_H
#define RINGROOM_STORE_H

#include "config.h"
#include "doc.h"
#include "record.h"     /* STORE_CID_MAX, STORE_ELEMENT_ID_MAX */

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct core;
struct store;
struct store_core;
struct store_room;

/* One op of a room's history (in memory: the last --history-window of each room). */
struct store_op {
    uint64_t rev;            /* the revision this op created (1 = first op) */
    uint64_t ts;             /* server wall clock, ms since the epoch */
    char *from;              /* participant id */
    char *op;                /* ot.js JSON, as applied by the server */
    uint32_t from_len, op_len;
};

/* ---- process ---- */

/* What store_open made of the store. The caller decides what follows (server.c exits with 3
 * on CORRUPT, 1 on FAILED). */
enum store_open_result {
    STORE_OPEN_OK = 0,
    STORE_OPEN_CORRUPT,   /* the stored data is corrupt: a bad record in the middle of a segment
                           * (without --recover-truncate), missing ops, a snapshot or op that
                           * does not load; err says which and what to do */
    STORE_OPEN_FAILED,    /* anything else: the data dir cannot be created, locked, read or
                           * written, MongoDB cannot be reached or loaded from, out of memory */
};
/* Opens --data-dir (creating it), locks it, recovers every segment and prepares one
 * store_core per core with a fresh segment (with --store mongodb://: connects and loads the
 * rooms). On failure writes one message to err (*out stays NULL). */
enum store_open_result store_open(struct store **out, const struct config *cfg, uint32_t ncores, char *err,
                                  size_t errlen);
void store_close(struct store *st);
struct store_core *store_core_of(struct store *st, uint32_t core);
/* Any core's writes failing right now (for /health). */
bool store_degraded(const struct store *st);

/* ---- one core (its thread only) ---- */

/* What became of an op the core handed to the store. */
enum store_outcome {
    STORE_DURABLE,    /* durable: ack the sender, broadcast the op */
    STORE_ACK_ONLY,   /* a waiter of store_wait_durable (a resubmitted op) is durable: ack it only */
    STORE_CONFLICT,   /* MongoDB holds another op at this revision (someone else committed it):
                       * the op is not durable and never will be; neither ack nor broadcast */
};
typedef void (*store_durable_fn)(void *arg, struct store_room *sr, uint64_t rev,
                                 uint32_t conn_idx, uint32_t conn_gen, enum store_outcome outcome);
/* Gives the core's writer its ring (and statistics) and the callback of the layer above
 * (called with arg). The process registers store_flush, store_tick and store_on_cqe on the
 * loop. */
void store_core_attach(struct store_core *sc, struct core *co, store_durable_fn on_durable, void *arg);
/* Before the loop submits: starts a write if records wait and it is time. Returns the ms
 * until it wants to be woken to write (UINT32_MAX: nothing waits). */
uint32_t store_flush(struct store_core *sc);
/* A completion with ud_kind UD_STORE. */
void store_on_cqe(struct store_core *sc, struct io_uring_cqe *cqe);
/* Timer tick: retries failed writes. */
void store_tick(struct store_core *sc);
/* The core is stopping: writes what is pending and waits for it (bounded). */
void store_core_finish(struct store_core *sc);
/* Writes are failing (ENOSPC, EIO...): new ops must be refused. */
bool store_core_unavailable(const struct store_core *sc);

/* The stored room `name`, creating it (empty doc at rev 0) if `create`. NULL if absent or
 * out of memory. */
struct store_room *store_room_get(struct store_core *sc, const char *name, size_t len, bool create);
doc *store_room_doc(struct store_room *sr);
/* room.c's struct room while the room is in memory (NULL otherwise). */
void *store_room_live(const struct store_room *sr);
void store_room_set_live(struct store_room *sr, void *room);
uint64_t store_room_durable_rev(const struct store_room *sr);
/* MongoDB reported another writer's op at one of this room's revisions: the room's memory no
 * longer matches the store, its ops are refused (store-conflict) until the server restarts and
 * loads the room again. 0 = not fenced, else the first revision that conflicted. */
uint64_t store_room_fenced(const struct store_room *sr);
uint64_t store_room_chat_seq(const struct store_room *sr);
uint64_t store_room_next_chat_seq(struct store_room *sr);
/* --redis: chat seq comes from Redis; the room's own counter follows it (max). */
void store_room_note_chat_seq(struct store_room *sr, uint64_t seq);

/* The op that created revision rev, if still in memory. */
const struct store_op *store_room_op(const struct store_room *sr, uint64_t rev);
/* Oldest revision whose op is in memory (ops rev >= this are available up to doc rev). */
uint64_t store_room_oldest_op(const struct store_room *sr);

/* Idempotent resubmission (docs/protocol.md, `cid`/`cseq`): the highest cseq applied for client
 * id cid and the revision it created, if an op of cid is still in the op ring (cids with
 * nothing in the history window are forgotten). Rebuilt from the op records at recovery.
 * cid_len <= STORE_CID_MAX (record.h). */
bool store_room_cid(const struct store_room *sr, const char *cid, size_t len, uint64_t *cseq, uint64_t *rev);

/* Chat messages kept (oldest first): the i-th JSON object, i < count. */
uint32_t store_room_chat_count(const struct store_room *sr);
const char *store_room_chat(const struct store_room *sr, uint32_t i, size_t *len);

/* Records op (already applied: doc_rev(doc) == rev) and queues it for writing; on_durable
 * (sr, rev, conn_idx, conn_gen, false) runs once it is durable. May append a snapshot too.
 * cid (cid_len 0: none, else <= STORE_CID_MAX) and cseq go in the record and in the room's
 * cid table. False on ENOMEM (nothing recorded). */
bool store_append_op(struct store_core *sc, struct store_room *sr, uint64_t rev, uint64_t ts,
                     const char *from, size_t from_len, const char *op_json, size_t op_len,
                     const char *cid, size_t cid_len, uint64_t cseq, uint32_t conn_idx, uint32_t conn_gen);
/* on_durable(sr, rev, conn_idx, conn_gen, true) once everything appended so far is durable
 * (rev's op is among it). False on ENOMEM. */
bool store_wait_durable(struct store_core *sc, struct store_room *sr, uint64_t rev, uint32_t conn_idx,
                        uint32_t conn_gen);
/* Records a chat message (its whole JSON object, seq from store_room_next_chat_seq): it joins
 * the room's kept chat at once (a later `joined` shows it: the server broadcast it already) and
 * its record is queued for writing. False if the log cannot take it now (unavailable, ENOMEM):
 * nothing done; the caller may keep it unstored with store_room_keep_chat. */
bool store_append_chat(struct store_core *sc, struct store_room *sr, uint64_t seq, uint64_t ts,
                       const char *json, size_t len);
void store_room_keep_chat(struct store_core *sc, struct store_room *sr, uint64_t seq, uint64_t ts,
                          const char *json, size_t len);

/* Canvas elements (docs/protocol.md `element`): the room's winners, kept with the room (they
 * survive the room emptying and a restart) and logged like chat: the winner is broadcast at
 * once and its record written with the next batch. Ids are at most STORE_ELEMENT_ID_MAX bytes
 * (record.h). */
enum store_element_put { STORE_ELEMENT_WON, STORE_ELEMENT_LOST, STORE_ELEMENT_FULL, STORE_ELEMENT_NOMEM };
/* Merges element id at (version, nonce): it wins over the kept one if its version is higher,
 * or equal with a lower nonce (a new id wins unless the room has max_elements already). A
 * winner replaces the kept element and its record is queued; while the log cannot take it
 * (unavailable) it is kept unlogged, like chat. NOMEM: nothing changed. */
enum store_element_put store_element_put(struct store_core *sc, struct store_room *sr, const char *id, size_t id_len,
                                         int64_t version, int64_t nonce, const char *json, size_t len,
                                         uint32_t max_elements);
/* The kept elements: slot i < store_room_element_slots(sr); NULL for an empty slot. */
uint32_t store_room_element_slots(const struct store_room *sr);
const char *store_room_element(const struct store_room *sr, uint32_t i, size_t *len);

#endif
