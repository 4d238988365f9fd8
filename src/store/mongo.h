/* mongo.h: the MongoDB back end of the store (--store mongodb://...), the contract between
 * the store (writer.c, recovery.c) and the back end: mongo.c (connection, writer threads,
 * eventfds, the start-up load) and mongo_batch.c (what one batch writes, fences, the BSON
 * conversions). It speaks records (record.h) and BSON only: it knows nothing of stored rooms
 * or cores, so the back end depends on the codec, never on the rest of the store.
 *
 * writer.c and rooms.c keep doing everything a core does with its records (group commit,
 * waiters in order, stored rooms in memory); only where the bytes go changes. Instead of a
 * write + fdatasync on a segment, a core hands the framed records of one group commit to its own
 * writer thread (libmongoc blocks; a ring never does) and arms a read of the writer's
 * eventfd. The thread decodes the records and writes them with insert_many, in order:
 *   ops        {room, rev, op (the ot.js op as a BSON array), from, ts[, cid, cseq]}
 *              unique index (room, rev)
 *   snapshots  {room, rev, doc, chat_seq}   unique index (room, rev); older ones deleted
 *   chat       {room, seq, ts, msg (the message's JSON text)}   unique index (room, seq)
 *   elements   {room, id, version, nonce, element (its JSON text)}   unique index (room, id),
 *              replaced (upsert) by each winner
 * with the write concern of the URI (default here: w=1, journal=true), then writes 1 to the
 * eventfd. The group is durable when every insert was acknowledged.
 *
 * A duplicate key on (room, rev) means MongoDB already holds that revision: if it is the
 * same op (a retried batch whose first try was written) it counts as written; if not,
 * someone else committed that revision. The room is then fenced: none of its ops from that
 * revision on is written, acked or broadcast (store.h: STORE_CONFLICT), and the core refuses
 * its new ops until a restart loads the room again from MongoDB.
 *
 * Loading (main thread, before the cores run): every room's latest snapshot, the ops after
 * min(snapshot, last rev - history window) and its last chat messages are read and returned
 * as records in the op log's framing, so recovery builds rooms with the same code for both
 * back ends.
 */
#ifndef RINGROOM_STORE_MONGO_H
#define RINGROOM_STORE_MONGO_H

#include "mongo_batch.h"
#include "record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mongo_store;
struct mongo_writer;

/* Removes the /dev/shm file libmongoc's constructor made for this process's counters, so
 * that a process killed with SIGKILL leaves nothing behind. Call first thing in main. */
void mongo_unlink_counters_file(void);

/* ---- process (main thread; mongo.c) ---- */

/* Parses the URI, connects, checks the server answers (ping) and creates the indexes. */
int mongo_store_open(struct mongo_store **out, const char *uri, uint32_t nwriters, char *err, size_t errlen);
/* Every stored room as records appended to img (see above). 0, or 1 with err set. */
int mongo_store_load(struct mongo_store *m, uint32_t history_window, uint32_t chat_history, struct store_buf *img,
                     char *err, size_t errlen);
/* Stops and joins the writer threads, disconnects. */
void mongo_store_close(struct mongo_store *m);

/* ---- one writer (its core's thread calls these; mongo.c) ---- */

struct mongo_writer *mongo_store_writer(struct mongo_store *m, uint32_t i);
/* Readable (an 8-byte count) when the submitted batch is done. */
int mongo_writer_eventfd(const struct mongo_writer *w);
/* Hands records[0..len) to the thread: they must stay untouched until the eventfd fires. One
 * batch at a time. */
void mongo_writer_submit(struct mongo_writer *w, const uint8_t *records, size_t len);
/* The finished batch's outcome (valid until the next submit). */
const struct mongo_batch_result *mongo_writer_result(const struct mongo_writer *w);

#endif
