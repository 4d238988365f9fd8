/* mongo_batch.h: writing one group commit's records to MongoDB over any database (the
 * store's MongoDB back end, below mongo.h; mongo.h's header describes the collections).
 *
 * mongo_write_batch decodes the records (record.h) and writes them in order through the
 * callbacks of a struct mongo_db: the real one (mongo.c, libmongoc) or the tests' (which
 * inject duplicate keys). A duplicate key on (room, rev) that holds another op fences the
 * room (struct mongo_fence). The op conversions between ot.js JSON and BSON arrays are here
 * too. Runs on a writer thread (or a test); no state outside its arguments.
 */
#ifndef RINGROOM_STORE_MONGO_BATCH_H
#define RINGROOM_STORE_MONGO_BATCH_H

#include "json.h"
#include "shard.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MONGO_DUPLICATE_KEY 11000

/* A room fenced by a duplicate key: `rev` is held by another op. */
struct mongo_fence {
    char room[ROOM_NAME_MAX + 1];
    uint32_t room_len;
    uint64_t rev;
};
struct mongo_fences { struct mongo_fence *v; size_t n, cap; };
void mongo_fences_free(struct mongo_fences *f);

/* The outcome of one batch, read by the core after the writer's eventfd fired. */
struct mongo_batch_result {
    bool ok;                      /* false: the batch must be retried (nothing is acked) */
    char msg[256];                /* why not ok */
    struct mongo_fences fenced;   /* rooms whose ops in this batch were not written, and from
                                   * which revision (a fence found now or earlier) */
    uint64_t ops, snapshots, chats, elements, duplicates;  /* written, and duplicates that were our own */
};

enum mongo_coll { MONGO_OPS, MONGO_SNAPSHOTS, MONGO_CHAT, MONGO_ELEMENTS, MONGO_NCOLL };
struct mongo_db {
    void *arg;
    /* Ordered insert of docs[0..n). Sets *done to how many went in before the first failure;
     * returns true if all did, or false with *dup (a duplicate key at docs[*done]) or msg. */
    bool (*insert)(void *arg, enum mongo_coll coll, const bson_t *const *docs, size_t n, size_t *done, bool *dup,
                   char *msg, size_t msglen);
    /* The op document stored at (room, rev) into *out (bson_init'ed by the caller); *found. */
    bool (*find_op)(void *arg, const char *room, uint64_t rev, bson_t *out, bool *found, char *msg, size_t msglen);
    /* Deletes the room's snapshots older than rev (keeping the store small). */
    bool (*drop_snapshots_before)(void *arg, const char *room, uint64_t rev, char *msg, size_t msglen);
    /* In order, each element document replaces the one with its (room, id), or is inserted. */
    bool (*put_elements)(void *arg, const bson_t *const *docs, size_t n, char *msg, size_t msglen);
};
/* Writes the records of one batch. fences: the writer's fenced rooms (grows). */
void mongo_write_batch(const struct mongo_db *db, struct mongo_fences *fences, const uint8_t *records, size_t len,
                       struct mongo_batch_result *res);

/* Conversions (exposed for tests): an ot.js op's JSON (integers and strings) to a BSON array
 * appended as `key` to doc, and a BSON array back to the same JSON text. */
bool mongo_append_op(bson_t *d, const char *key, const char *json, size_t len);
bool mongo_op_json(const bson_iter_t *array, jw *out);

#endif
