/* mongo_batch.c: the MongoDB back end's batch logic (mongo_batch.h): the records of one group
 * commit turned into documents and written in order, duplicate keys told apart (our own retried
 * op, or another writer's op at our revision: the room is fenced), and the ot.js JSON <-> BSON
 * array conversions the load uses too.
 *
 * It reaches the database only through struct mongo_db, never libmongoc itself, so the unit
 * tests run it over a database that enforces unique keys the way mongod does
 * (tests/unit/test_mongo_batch.c). In the server, mongo_write_batch runs on a core's writer
 * thread (mongo.c) with that writer's fences; nothing here is shared between threads.
 */
#include "mongo_batch.h"

#include "log.h"
#include "record.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum store_rec_type coll_record[MONGO_NCOLL] = { STORE_REC_OP, STORE_REC_SNAPSHOT, STORE_REC_CHAT,
                                                              STORE_REC_ELEMENT };

/* ---- fences ---- */

void mongo_fences_free(struct mongo_fences *f)
{
    free(f->v);
    memset(f, 0, sizeof *f);
}

static const struct mongo_fence *fence_of(const struct mongo_fences *f, const char *room, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].room_len == len && !memcmp(f->v[i].room, room, len)) return &f->v[i];
    return NULL;
}

static bool fence_add(struct mongo_fences *f, const char *room, size_t len, uint64_t rev)
{
    if (fence_of(f, room, len)) return true;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        struct mongo_fence *v = realloc(f->v, cap * sizeof *v);
        if (!v) return false;
        f->v = v;
        f->cap = cap;
    }
    struct mongo_fence *e = &f->v[f->n++];
    memcpy(e->room, room, len);
    e->room[len] = '\0';
    e->room_len = (uint32_t)len;
    e->rev = rev;
    return true;
}

/* ---- conversions ---- */

bool mongo_append_op(bson_t *d, const char *key, const char *json, size_t len)
{
    /* libbson parses JSON objects only: wrap the array as {"o": [...]} */
    char *wrapped = malloc(len + 6);
    if (!wrapped) return false;
    memcpy(wrapped, "{\"o\":", 5);
    memcpy(wrapped + 5, json, len);
    wrapped[5 + len] = '}';
    bool ok = false;
    bson_t tmp;
    bson_iter_t it;
    if (bson_init_from_json(&tmp, wrapped, (ssize_t)(len + 6), NULL)) {
        ok = bson_iter_init_find(&it, &tmp, "o") && BSON_ITER_HOLDS_ARRAY(&it) && bson_append_iter(d, key, -1, &it);
        bson_destroy(&tmp);
    }
    free(wrapped);
    return ok;
}

bool mongo_op_json(const bson_iter_t *array, jw *out)
{
    if (!BSON_ITER_HOLDS_ARRAY(array)) return false;
    bson_iter_t it;
    if (!bson_iter_recurse(array, &it)) return false;
    jw_char(out, '[');
    bool first = true;
    while (bson_iter_next(&it)) {
        if (!first) jw_char(out, ',');
        first = false;
        switch (bson_iter_type(&it)) {
        case BSON_TYPE_INT32:
        case BSON_TYPE_INT64:
            jw_int(out, bson_iter_as_int64(&it));
            break;
        case BSON_TYPE_DOUBLE: {      /* a server that keeps numbers as doubles (JavaScript) */
            double d = bson_iter_double(&it);
            if (d != (double)(int64_t)d) return false;
            jw_int(out, (int64_t)d);
            break;
        }
        case BSON_TYPE_UTF8: {
            uint32_t n;
            const char *s = bson_iter_utf8(&it, &n);
            jw_str(out, s, n);
            break;
        }
        default:
            return false;
        }
    }
    jw_char(out, ']');
    return !out->oom;
}

/* ---- one batch ---- */

struct batch {
    struct store_rec *recs;
    size_t n, cap;
    bool bad;
};

static void collect(void *arg, const uint8_t *payload, size_t len, size_t off)
{
    (void)off;
    struct batch *b = arg;
    if (b->bad) return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct store_rec *r = realloc(b->recs, cap * sizeof *r);
        if (!r) { b->bad = true; return; }
        b->recs = r;
        b->cap = cap;
    }
    if (!store_decode(payload, len, &b->recs[b->n])) b->bad = true;
    else b->n++;
}

/* A record as its document (mongo.h lists the fields); NULL if it does not convert. */
static bson_t *record_doc(const struct store_rec *r)
{
    bson_t *d = bson_new();
    bool ok = bson_append_utf8(d, "room", 4, r->room, (int)r->room_len);
    if (r->type != STORE_REC_ELEMENT)
        ok = ok && bson_append_int64(d, r->type == STORE_REC_CHAT ? "seq" : "rev", 3, (int64_t)r->rev);
    switch (r->type) {
    case STORE_REC_OP:
        ok = ok && mongo_append_op(d, "op", r->body, r->body_len) &&
             bson_append_utf8(d, "from", 4, r->from, (int)r->from_len) && bson_append_int64(d, "ts", 2, (int64_t)r->ts);
        if (ok && r->cid_len)
            ok = bson_append_utf8(d, "cid", 3, r->cid, (int)r->cid_len) && bson_append_int64(d, "cseq", 4, (int64_t)r->cseq);
        break;
    case STORE_REC_SNAPSHOT:
        ok = ok && bson_append_utf8(d, "doc", 3, r->body, (int)r->body_len) &&
             bson_append_int64(d, "chat_seq", 8, (int64_t)r->chat_seq);
        break;
    case STORE_REC_CHAT:
        ok = ok && bson_append_int64(d, "ts", 2, (int64_t)r->ts) && bson_append_utf8(d, "msg", 3, r->body, (int)r->body_len);
        break;
    case STORE_REC_ELEMENT:
        ok = ok && bson_append_utf8(d, "id", 2, r->id, (int)r->id_len) && bson_append_int64(d, "version", 7, r->version) &&
             bson_append_int64(d, "nonce", 5, r->nonce) && bson_append_utf8(d, "element", 7, r->body, (int)r->body_len);
        break;
    }
    if (!ok) {
        bson_destroy(d);
        return NULL;
    }
    return d;
}

static bool same_room(const struct store_rec *r, const char *room, size_t len)
{
    return r->room_len == len && !memcmp(r->room, room, len);
}

/* Is the stored op at r's (room, rev) r itself (written by an earlier try of this batch)? */
static int stored_is_ours(const struct mongo_db *db, const struct store_rec *r, struct mongo_batch_result *res)
{
    char room[ROOM_NAME_MAX + 1];
    memcpy(room, r->room, r->room_len);
    room[r->room_len] = '\0';
    bson_t got;
    bson_init(&got);
    bool found = false;
    int verdict = -1;
    if (!db->find_op(db->arg, room, r->rev, &got, &found, res->msg, sizeof res->msg)) goto out;
    if (!found) {
        snprintf(res->msg, sizeof res->msg, "duplicate key on ops (%s, %" PRIu64 ") but no such document", room, r->rev);
        goto out;
    }
    bson_iter_t it;
    uint32_t n;
    const char *from = bson_iter_init_find(&it, &got, "from") && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, &n) : NULL;
    bool same = from && n == r->from_len && !memcmp(from, r->from, n);
    same = same && bson_iter_init_find(&it, &got, "ts") && bson_iter_as_int64(&it) == (int64_t)r->ts;
    jw w;
    jw_init(&w, 64);
    same = same && bson_iter_init_find(&it, &got, "op") && mongo_op_json(&it, &w) && w.len == r->body_len &&
           !memcmp(w.buf, r->body, w.len);
    jw_free(&w);
    verdict = same;
out:
    bson_destroy(&got);
    return verdict;
}

/* Inserts docs in order. A duplicate key: ops ask stored_is_ours (ours: skip it; another
 * writer's: fence the room and drop its later docs); snapshots and chat skip it (a retry). */
static bool insert_all(const struct mongo_db *db, enum mongo_coll coll, bson_t **docs, const struct store_rec **recs,
                       size_t *np, struct mongo_fences *fences, struct mongo_batch_result *res, uint64_t *written)
{
    size_t i = 0, n = *np;
    while (i < n) {
        size_t done = 0;
        bool dup = false;
        if (db->insert(db->arg, coll, (const bson_t *const *)docs + i, n - i, &done, &dup, res->msg, sizeof res->msg)) {
            *written += n - i;
            return true;
        }
        if (done > n - i) done = n - i;
        *written += done;
        i += done;
        if (!dup || i == n) return false;
        const struct store_rec *r = recs[i];
        if (coll == MONGO_OPS) {
            int ours = stored_is_ours(db, r, res);
            if (ours < 0) return false;
            if (ours) {
                res->duplicates++;
            } else {
                if (!fence_add(fences, r->room, r->room_len, r->rev) ||
                    !fence_add(&res->fenced, r->room, r->room_len, r->rev)) {
                    snprintf(res->msg, sizeof res->msg, "out of memory");
                    return false;
                }
                size_t k = i + 1;                /* the room's later ops are not written */
                for (size_t j = i + 1; j < n; j++) {
                    if (same_room(recs[j], r->room, r->room_len)) {
                        bson_destroy(docs[j]);
                        continue;
                    }
                    docs[k] = docs[j];
                    recs[k++] = recs[j];
                }
                n = *np = k;
            }
        } else {
            res->duplicates++;
        }
        i++;
    }
    return true;
}

void mongo_write_batch(const struct mongo_db *db, struct mongo_fences *fences, const uint8_t *records, size_t len,
                       struct mongo_batch_result *res)
{
    mongo_fences_free(&res->fenced);
    memset(res, 0, sizeof *res);
    struct batch b = { 0 };
    size_t valid, nrec;
    const char *why;
    if (store_scan(records, len, &valid, &nrec, &why, collect, &b) != STORE_SCAN_OK || b.bad) {
        snprintf(res->msg, sizeof res->msg, "a batch's records do not decode (%s)", why ? why : "bad layout");
        free(b.recs);
        return;
    }
    bson_t **docs = calloc(b.n ? b.n : 1, sizeof *docs);
    const struct store_rec **recs = calloc(b.n ? b.n : 1, sizeof *recs);
    bool ok = docs && recs;
    if (!ok) snprintf(res->msg, sizeof res->msg, "out of memory");
    uint64_t *counts[MONGO_NCOLL] = { &res->ops, &res->snapshots, &res->chats, &res->elements };
    for (int coll = MONGO_OPS; coll < MONGO_NCOLL && ok; coll++) {
        size_t n = 0;
        for (size_t i = 0; i < b.n && ok; i++) {
            const struct store_rec *r = &b.recs[i];
            const struct mongo_fence *f = fence_of(fences, r->room, r->room_len);
            if (r->type != coll_record[coll]) continue;
            bool fenced = f && r->type != STORE_REC_CHAT && r->rev >= f->rev;
            if (fenced && r->type == STORE_REC_OP && !fence_add(&res->fenced, f->room, f->room_len, f->rev)) {
                snprintf(res->msg, sizeof res->msg, "out of memory");
                ok = false;
                break;
            }
            if (fenced) continue;
            bson_t *d = record_doc(r);
            if (!d) {
                snprintf(res->msg, sizeof res->msg, "room %.*s: record %" PRIu64 " does not convert to BSON",
                         (int)r->room_len, r->room, r->rev);
                ok = false;
                break;
            }
            docs[n] = d;
            recs[n++] = r;
        }
        if (ok && n && coll == MONGO_ELEMENTS) {
            ok = db->put_elements(db->arg, (const bson_t *const *)docs, n, res->msg, sizeof res->msg);
            if (ok) res->elements += n;
        } else if (ok && n) {
            ok = insert_all(db, (enum mongo_coll)coll, docs, recs, &n, fences, res, counts[coll]);
        }
        if (ok && coll == MONGO_SNAPSHOTS)       /* best effort: only the newest snapshot is read */
            for (size_t i = 0; i < n; i++) {
                char room[ROOM_NAME_MAX + 1], msg[128];
                memcpy(room, recs[i]->room, recs[i]->room_len);
                room[recs[i]->room_len] = '\0';
                if (!db->drop_snapshots_before(db->arg, room, recs[i]->rev, msg, sizeof msg))
                    log_warn("mongodb: deleting old snapshots of %s: %s", room, msg);
            }
        for (size_t i = 0; i < n; i++) bson_destroy(docs[i]);
    }
    res->ok = ok;
    free(docs);
    free(recs);
    free(b.recs);
}
