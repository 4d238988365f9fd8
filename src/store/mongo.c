/* mongo.c: the MongoDB back end's connection to the server (see mongo.h and
 * docs/persistence.md): the URI and the indexes, one writer thread and one libmongoc client
 * per core with its eventfd, the database calls a batch makes (struct mongo_db over
 * libmongoc), and the start-up load (documents -> records). What a batch writes, and how
 * duplicate keys are settled, is mongo_batch.c's.
 *
 * libmongoc's calls block until the server answers, so none of them runs on a core's
 * thread: a core hands a batch over with a semaphore and learns of its end through an
 * eventfd its ring reads. The only state shared with the core is the batch pointer, its
 * length and the result, handed over by sem_post/sem_wait one way and the eventfd the other,
 * one batch at a time.
 */
#include "mongo.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* Debian's libmongoc initialises itself from a library constructor, before main, and keeps
 * statistics counters (for mongoc-stat, which nobody here runs) in a /dev/shm/mongoc-<pid>
 * file that only a clean exit removes: every kill -9 left one behind, and a later process
 * given the same pid printed "Falling back to malloc for counters" on stderr. Setting
 * MONGOC_DISABLE_SHM from main is too late, so the file is unlinked at once instead: the
 * mapping stays valid for the process, and nothing is left to leak. */
void mongo_unlink_counters_file(void)
{
    char name[32];
    snprintf(name, sizeof name, "/mongoc-%u", (unsigned)getpid());
    shm_unlink(name);     /* ENOENT when the counters are off or fell back to malloc: fine */
}

static const char *const coll_names[MONGO_NCOLL] = { "ops", "snapshots", "chat", "elements" };
static const char *const coll_key[MONGO_NCOLL] = { "rev", "rev", "seq", "id" };     /* unique with room */

struct mongo_writer {
    struct mongo_store *m;
    pthread_t thread;
    bool started;
    mongoc_client_t *client;
    mongoc_collection_t *coll[MONGO_NCOLL];
    sem_t go;
    int efd;
    atomic_bool stop;
    const uint8_t *records;
    size_t len;
    struct mongo_fences fences;      /* the thread's: rooms it no longer writes ops of */
    struct mongo_batch_result res;
};

struct mongo_store {
    mongoc_uri_t *uri;
    char db[128];
    uint32_t nwriters;
    struct mongo_writer *w;
};

/* ---- the database through libmongoc ---- */

static void copy_error(char *msg, size_t msglen, const char *what, const bson_error_t *e)
{
    snprintf(msg, msglen, "%s: %s (domain %" PRIu32 ", code %" PRIu32 ")", what, e->message, e->domain, e->code);
}

static bool db_insert(void *arg, enum mongo_coll coll, const bson_t *const *docs, size_t n, size_t *done, bool *dup,
                      char *msg, size_t msglen)
{
    struct mongo_writer *w = arg;
    bson_t opts = BSON_INITIALIZER, reply;
    bson_error_t e;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    bool ok = mongoc_collection_insert_many(w->coll[coll], (const bson_t **)docs, n, &opts, &reply, &e);
    bson_iter_t it;
    *done = bson_iter_init_find(&it, &reply, "insertedCount") ? (size_t)bson_iter_as_int64(&it) : 0;
    *dup = false;
    if (!ok) {
        /* a duplicate key is a write error of the first document not inserted; a write concern
         * error (or any other) is not something a retry of that document can settle */
        bson_iter_t we;
        bool wc_err = bson_iter_init_find(&we, &reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&we) &&
                      bson_iter_recurse(&we, &it) && bson_iter_next(&it);
        *dup = !wc_err && e.code == MONGO_DUPLICATE_KEY;
        copy_error(msg, msglen, coll_names[coll], &e);
    }
    bson_destroy(&reply);
    bson_destroy(&opts);
    return ok;
}

static bool db_find_op(void *arg, const char *room, uint64_t rev, bson_t *out, bool *found, char *msg, size_t msglen)
{
    struct mongo_writer *w = arg;
    bson_t *filter = BCON_NEW("room", BCON_UTF8(room), "rev", BCON_INT64((int64_t)rev));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(w->coll[MONGO_OPS], filter, opts, NULL);
    const bson_t *d;
    *found = false;
    if (mongoc_cursor_next(cur, &d)) {
        *found = true;
        bson_copy_to_excluding_noinit(d, out, "_id", NULL);
    }
    bson_error_t e;
    bool ok = !mongoc_cursor_error(cur, &e);
    if (!ok) copy_error(msg, msglen, "ops find", &e);
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

static bool db_drop_snapshots_before(void *arg, const char *room, uint64_t rev, char *msg, size_t msglen)
{
    struct mongo_writer *w = arg;
    bson_t *filter = BCON_NEW("room", BCON_UTF8(room), "rev", "{", "$lt", BCON_INT64((int64_t)rev), "}");
    bson_error_t e;
    bool ok = mongoc_collection_delete_many(w->coll[MONGO_SNAPSHOTS], filter, NULL, NULL, &e);
    if (!ok) copy_error(msg, msglen, "snapshots delete", &e);
    bson_destroy(filter);
    return ok;
}

static bool db_put_elements(void *arg, const bson_t *const *docs, size_t n, char *msg, size_t msglen)
{
    struct mongo_writer *w = arg;
    bson_t opts = BSON_INITIALIZER, reply;
    BSON_APPEND_BOOL(&opts, "ordered", true);
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(w->coll[MONGO_ELEMENTS], &opts);
    bson_t *upsert = BCON_NEW("upsert", BCON_BOOL(true));
    bson_error_t e;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        bson_iter_t room, id;
        bson_t sel = BSON_INITIALIZER;
        ok = bson_iter_init_find(&room, docs[i], "room") && bson_iter_init_find(&id, docs[i], "id") &&
             bson_append_iter(&sel, "room", 4, &room) && bson_append_iter(&sel, "id", 2, &id) &&
             mongoc_bulk_operation_replace_one_with_opts(bulk, &sel, docs[i], upsert, &e);
        if (!ok) copy_error(msg, msglen, "elements", &e);
        bson_destroy(&sel);
    }
    if (ok) {                      /* execute always initialises reply */
        if (!mongoc_bulk_operation_execute(bulk, &reply, &e)) {
            copy_error(msg, msglen, "elements", &e);
            ok = false;
        }
        bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(bulk);
    bson_destroy(upsert);
    bson_destroy(&opts);
    return ok;
}

/* ---- writer threads ---- */

static void *writer_main(void *arg)
{
    struct mongo_writer *w = arg;
    struct mongo_db db = { w, db_insert, db_find_op, db_drop_snapshots_before, db_put_elements };
    for (;;) {
        while (sem_wait(&w->go) && errno == EINTR) {}
        if (atomic_load_explicit(&w->stop, memory_order_acquire)) break;
        mongo_write_batch(&db, &w->fences, w->records, w->len, &w->res);
        atomic_thread_fence(memory_order_release);   /* res before the eventfd says "done" */
        uint64_t one = 1;
        while (write(w->efd, &one, sizeof one) < 0 && errno == EINTR) {}
    }
    return NULL;
}

struct mongo_writer *mongo_store_writer(struct mongo_store *m, uint32_t i) { return &m->w[i]; }
int mongo_writer_eventfd(const struct mongo_writer *w) { return w->efd; }
const struct mongo_batch_result *mongo_writer_result(const struct mongo_writer *w)
{
    atomic_thread_fence(memory_order_acquire);       /* pairs with the writer's release */
    return &w->res;
}

void mongo_writer_submit(struct mongo_writer *w, const uint8_t *records, size_t len)
{
    w->records = records;
    w->len = len;
    sem_post(&w->go);
}

/* ---- open, load, close ---- */

static mongoc_client_t *client_new(struct mongo_store *m, char *err, size_t errlen)
{
    mongoc_client_t *c = mongoc_client_new_from_uri(m->uri);
    if (!c) {
        snprintf(err, errlen, "--store: libmongoc refused the URI");
        return NULL;
    }
    mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_set_appname(c, "ringroom");
    return c;
}

static bool command(mongoc_client_t *c, const char *db, bson_t *cmd, const char *what, char *err, size_t errlen)
{
    bson_error_t e;
    bson_t reply;
    bool ok = mongoc_client_command_simple(c, db, cmd, NULL, &reply, &e);
    if (!ok) copy_error(err, errlen, what, &e);
    bson_destroy(&reply);
    bson_destroy(cmd);
    return ok;
}

/* The URI without its credentials, for messages. */
static void redact(const char *uri, char *out, size_t outlen)
{
    const char *at = strchr(uri, '@'), *scheme = strstr(uri, "://");
    if (at && scheme && scheme < at) snprintf(out, outlen, "%.*s://***@%s", (int)(scheme - uri), uri, at + 1);
    else snprintf(out, outlen, "%s", uri);
}

int mongo_store_open(struct mongo_store **out, const char *uri_text, uint32_t nwriters, char *err, size_t errlen)
{
    char shown[160];
    redact(uri_text, shown, sizeof shown);
    *out = NULL;
    mongoc_init();
    struct mongo_store *m = calloc(1, sizeof *m);
    if (!m) return 1;
    bson_error_t e;
    m->uri = mongoc_uri_new_with_error(uri_text, &e);
    if (!m->uri) {
        snprintf(err, errlen, "--store %s: %s", shown, e.message);
        goto fail;
    }
    const char *db = mongoc_uri_get_database(m->uri);
    snprintf(m->db, sizeof m->db, "%s", db && *db ? db : "ringroom");
    /* acks wait for MongoDB's acknowledgement: w=0 could not say when an op is durable */
    const mongoc_write_concern_t *wc = mongoc_uri_get_write_concern(m->uri);
    int32_t wv = mongoc_write_concern_get_w(wc);
    if (wv == MONGOC_WRITE_CONCERN_W_UNACKNOWLEDGED) {
        snprintf(err, errlen, "--store: w=0 (unacknowledged writes) cannot tell when an op is durable; use w=1 or more");
        goto fail;
    }
    if (wv == MONGOC_WRITE_CONCERN_W_DEFAULT && !mongoc_write_concern_journal_is_set(wc)) {
        mongoc_write_concern_t *mine = mongoc_write_concern_new();
        mongoc_write_concern_set_w(mine, 1);
        mongoc_write_concern_set_journal(mine, true);
        mongoc_uri_set_write_concern(m->uri, mine);
        mongoc_write_concern_destroy(mine);
    }
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SOCKETTIMEOUTMS, 30000);
    mongoc_client_t *c = client_new(m, err, errlen);
    if (!c) goto fail;
    bool ok = command(c, "admin", BCON_NEW("ping", BCON_INT32(1)), "ping", err, errlen);
    for (int i = 0; i < MONGO_NCOLL && ok; i++) {
        char name[16];
        snprintf(name, sizeof name, "room_%s", coll_key[i]);
        bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(coll_names[i]), "indexes", "[", "{", "key", "{", "room",
                               BCON_INT32(1), coll_key[i], BCON_INT32(1), "}", "name", BCON_UTF8(name),
                               "unique", BCON_BOOL(true), "}", "]");
        ok = command(c, m->db, cmd, "createIndexes", err, errlen);
    }
    mongoc_client_destroy(c);
    if (!ok) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (--store %s)", shown);
        goto fail;
    }
    m->nwriters = nwriters;
    m->w = calloc(nwriters, sizeof *m->w);
    if (!m->w) goto fail;
    for (uint32_t i = 0; i < nwriters; i++) {
        struct mongo_writer *w = &m->w[i];
        w->m = m;
        w->efd = eventfd(0, EFD_CLOEXEC);
        if (w->efd < 0 || sem_init(&w->go, 0, 0)) {
            snprintf(err, errlen, "eventfd/sem_init: %s", strerror(errno));
            goto fail;
        }
        if (!(w->client = client_new(m, err, errlen))) goto fail;
        for (int k = 0; k < MONGO_NCOLL; k++) w->coll[k] = mongoc_client_get_collection(w->client, m->db, coll_names[k]);
        int r = pthread_create(&w->thread, NULL, writer_main, w);
        if (r) {
            snprintf(err, errlen, "pthread_create: %s", strerror(r));
            goto fail;
        }
        w->started = true;
    }
    *out = m;
    return 0;
fail:
    mongo_store_close(m);
    return 1;
}

/* Appends every document of cursor to img as records of one room; false on a cursor error
 * or a document without the fields a record needs. */
typedef bool (*doc_to_record)(const bson_t *d, const char *room, size_t room_len, struct store_buf *img);

static bool get_i64(const bson_t *d, const char *key, uint64_t *v)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key) || !(BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it) ||
                                               BSON_ITER_HOLDS_DOUBLE(&it)))
        return false;
    int64_t x = bson_iter_as_int64(&it);
    if (x < 0) return false;
    *v = (uint64_t)x;
    return true;
}

static const char *get_str(const bson_t *d, const char *key, uint32_t *len)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    return bson_iter_utf8(&it, len);
}

static bool op_record(const bson_t *d, const char *room, size_t room_len, struct store_buf *img)
{
    uint64_t rev, ts, cseq = 0;
    uint32_t from_len, cid_len = 0;
    const char *from = get_str(d, "from", &from_len), *cid = get_str(d, "cid", &cid_len);
    bson_iter_t it;
    if (!get_i64(d, "rev", &rev) || !get_i64(d, "ts", &ts) || !from || !bson_iter_init_find(&it, d, "op")) return false;
    if (cid && !get_i64(d, "cseq", &cseq)) return false;
    jw w;
    jw_init(&w, 64);
    bool ok = mongo_op_json(&it, &w) && store_encode_op_cid(img, room, room_len, rev, ts, from, from_len, w.buf, w.len,
                                                            cid, cid ? cid_len : 0, cseq);
    jw_free(&w);
    return ok;
}

static bool snapshot_record(const bson_t *d, const char *room, size_t room_len, struct store_buf *img)
{
    uint64_t rev, chat_seq;
    uint32_t n;
    const char *text = get_str(d, "doc", &n);
    return text && get_i64(d, "rev", &rev) && get_i64(d, "chat_seq", &chat_seq) &&
           store_encode_snapshot(img, room, room_len, rev, chat_seq, text, n);
}

static bool chat_record(const bson_t *d, const char *room, size_t room_len, struct store_buf *img)
{
    uint64_t seq, ts;
    uint32_t n;
    const char *msg = get_str(d, "msg", &n);
    return msg && get_i64(d, "seq", &seq) && get_i64(d, "ts", &ts) && store_encode_chat(img, room, room_len, seq, ts, msg, n);
}

static bool element_record(const bson_t *d, const char *room, size_t room_len, struct store_buf *img)
{
    uint64_t version, nonce;
    uint32_t id_len, n;
    const char *id = get_str(d, "id", &id_len), *json = get_str(d, "element", &n);
    bson_iter_t it;
    /* version and nonce are signed: read them as they are */
    if (!id || !json || !bson_iter_init_find(&it, d, "version")) return false;
    version = (uint64_t)bson_iter_as_int64(&it);
    if (!bson_iter_init_find(&it, d, "nonce")) return false;
    nonce = (uint64_t)bson_iter_as_int64(&it);
    return store_encode_element(img, room, room_len, id, id_len, (int64_t)version, (int64_t)nonce, json, n);
}

static bool load_docs(mongoc_collection_t *coll, bson_t *filter, bson_t *opts, doc_to_record conv, const char *room,
                      size_t room_len, struct store_buf *img, char *err, size_t errlen)
{
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *d;
    bool ok = true;
    while (ok && mongoc_cursor_next(cur, &d)) {
        ok = conv(d, room, room_len, img);
        if (!ok) {
            char *j = bson_as_relaxed_extended_json(d, NULL);
            snprintf(err, errlen, "mongodb: %s: a document ringroom cannot read: %.160s", mongoc_collection_get_name(coll),
                     j ? j : "?");
            bson_free(j);
        }
    }
    bson_error_t e;
    if (ok && mongoc_cursor_error(cur, &e)) {
        copy_error(err, errlen, mongoc_collection_get_name(coll), &e);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    bson_destroy(opts);
    return ok;
}

/* The stored rooms with their highest op and snapshot revisions (and the lowest snapshot one:
 * a kill between a snapshot's insert and the delete of the older ones leaves those behind).
 * list_rooms appends one entry per room and collection; merge_rooms sorts them and folds each
 * room's entries into one. */
struct room_top { char name[ROOM_NAME_MAX + 1]; uint64_t ops_top, snap_top, snap_low; };
struct room_list { struct room_top *v; size_t n, cap; };

static struct room_top *room_list_add(struct room_list *l, const char *name, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct room_top *v = realloc(l->v, cap * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = cap;
    }
    struct room_top *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len);
    return t;
}

static int cmp_room_top(const void *a, const void *b)
{
    return strcmp(((const struct room_top *)a)->name, ((const struct room_top *)b)->name);
}

static void merge_rooms(struct room_list *l)
{
    if (!l->n) return;
    qsort(l->v, l->n, sizeof *l->v, cmp_room_top);
    size_t k = 0;
    for (size_t i = 1; i < l->n; i++) {
        struct room_top *t = &l->v[k], *u = &l->v[i];
        if (!strcmp(t->name, u->name)) {
            if (u->ops_top > t->ops_top) t->ops_top = u->ops_top;
            if (u->snap_top > t->snap_top) {
                t->snap_top = u->snap_top;
                t->snap_low = u->snap_low;
            }
        } else {
            l->v[++k] = *u;
        }
    }
    l->n = k + 1;
}

static bool list_rooms(mongoc_collection_t *coll, const char *field, int which, struct room_list *l, char *err,
                       size_t errlen)
{
    char max_of[16];
    snprintf(max_of, sizeof max_of, "$%s", field);
    bson_t *pipe = BCON_NEW("pipeline", "[", "{", "$group", "{", "_id", BCON_UTF8("$room"), "top", "{", "$max",
                            BCON_UTF8(max_of), "}", "low", "{", "$min", BCON_UTF8(max_of), "}", "}", "}", "]");
    mongoc_cursor_t *cur = mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipe, NULL, NULL);
    const bson_t *d;
    bool ok = true;
    while (ok && mongoc_cursor_next(cur, &d)) {
        uint32_t n;
        const char *name = get_str(d, "_id", &n);
        uint64_t top = 0, low = 0;
        if (!name || n < 1 || n > ROOM_NAME_MAX) {
            log_warn("mongodb: %s: ignoring documents with a bad room name", mongoc_collection_get_name(coll));
            continue;
        }
        get_i64(d, "top", &top);
        get_i64(d, "low", &low);
        struct room_top *t = room_list_add(l, name, n);
        if (!t) {
            snprintf(err, errlen, "out of memory listing rooms");
            ok = false;
        } else if (which == MONGO_OPS) {
            t->ops_top = top;
        } else if (which == MONGO_SNAPSHOTS) {
            t->snap_top = top;
            t->snap_low = low;
        }
    }
    bson_error_t e;
    if (ok && mongoc_cursor_error(cur, &e)) {
        copy_error(err, errlen, "aggregate rooms", &e);
        ok = false;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(pipe);
    return ok;
}

/* Best effort, like the delete after each snapshot insert: only the newest snapshot is read. */
static void drop_stale_snapshots(mongoc_collection_t *snapshots, const struct room_top *t)
{
    bson_t *filter = BCON_NEW("room", BCON_UTF8(t->name), "rev", "{", "$lt", BCON_INT64((int64_t)t->snap_top), "}");
    bson_t reply;
    bson_error_t e;
    if (mongoc_collection_delete_many(snapshots, filter, NULL, &reply, &e)) {
        int64_t n = 0;
        bson_iter_t it;
        if (bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it)) n = bson_iter_as_int64(&it);
        log_info("mongodb: %s: deleted %" PRId64 " snapshots older than rev %" PRIu64, t->name, n, t->snap_top);
    } else {
        log_warn("mongodb: %s: deleting snapshots older than rev %" PRIu64 ": %s", t->name, t->snap_top, e.message);
    }
    bson_destroy(&reply);
    bson_destroy(filter);
}

int mongo_store_load(struct mongo_store *m, uint32_t history_window, uint32_t chat_history, struct store_buf *img,
                     char *err, size_t errlen)
{
    mongoc_client_t *c = client_new(m, err, errlen);
    if (!c) return 1;
    mongoc_collection_t *coll[MONGO_NCOLL];
    for (int k = 0; k < MONGO_NCOLL; k++) coll[k] = mongoc_client_get_collection(c, m->db, coll_names[k]);
    struct room_list rooms = { 0 };
    bool ok = list_rooms(coll[MONGO_OPS], "rev", MONGO_OPS, &rooms, err, errlen) &&
              list_rooms(coll[MONGO_SNAPSHOTS], "rev", MONGO_SNAPSHOTS, &rooms, err, errlen) &&
              list_rooms(coll[MONGO_CHAT], "seq", MONGO_CHAT, &rooms, err, errlen) &&
              list_rooms(coll[MONGO_ELEMENTS], "version", MONGO_ELEMENTS, &rooms, err, errlen);
    if (ok) merge_rooms(&rooms);
    for (size_t i = 0; i < rooms.n && ok; i++) {
        const struct room_top *t = &rooms.v[i];
        size_t nl = strlen(t->name);
        ok = load_docs(coll[MONGO_SNAPSHOTS], BCON_NEW("room", BCON_UTF8(t->name)),
                       BCON_NEW("sort", "{", "rev", BCON_INT32(-1), "}", "limit", BCON_INT64(1)), snapshot_record,
                       t->name, nl, img, err, errlen);
        if (ok && t->snap_low < t->snap_top) drop_stale_snapshots(coll[MONGO_SNAPSHOTS], t);
        /* the ops after the snapshot, and at least the history window */
        uint64_t from = t->ops_top > history_window ? t->ops_top - history_window : 0;
        if (t->snap_top < from) from = t->snap_top;
        ok = ok && load_docs(coll[MONGO_OPS], BCON_NEW("room", BCON_UTF8(t->name), "rev", "{", "$gt", BCON_INT64((int64_t)from), "}"),
                             BCON_NEW("sort", "{", "rev", BCON_INT32(1), "}"), op_record, t->name, nl, img, err, errlen);
        ok = ok && (chat_history == 0 ||
                    load_docs(coll[MONGO_CHAT], BCON_NEW("room", BCON_UTF8(t->name)),
                              BCON_NEW("sort", "{", "seq", BCON_INT32(-1), "}", "limit", BCON_INT64(chat_history)),
                              chat_record, t->name, nl, img, err, errlen));
        ok = ok && load_docs(coll[MONGO_ELEMENTS], BCON_NEW("room", BCON_UTF8(t->name)), bson_new(), element_record,
                             t->name, nl, img, err, errlen);
    }
    if (ok) log_info("mongodb: loaded %zu rooms (%zu bytes of records) from database %s", rooms.n, img->len, m->db);
    free(rooms.v);
    for (int k = 0; k < MONGO_NCOLL; k++) mongoc_collection_destroy(coll[k]);
    mongoc_client_destroy(c);
    return ok ? 0 : 1;
}

void mongo_store_close(struct mongo_store *m)
{
    if (!m) return;
    for (uint32_t i = 0; m->w && i < m->nwriters; i++) {
        struct mongo_writer *w = &m->w[i];
        if (w->started) {
            atomic_store_explicit(&w->stop, true, memory_order_release);
            sem_post(&w->go);
            pthread_join(w->thread, NULL);
            sem_destroy(&w->go);
        }
        for (int k = 0; k < MONGO_NCOLL; k++)
            if (w->coll[k]) mongoc_collection_destroy(w->coll[k]);
        if (w->client) mongoc_client_destroy(w->client);
        if (w->efd > 0) close(w->efd);
        mongo_fences_free(&w->fences);
        mongo_fences_free(&w->res.fenced);
    }
    free(m->w);
    if (m->uri) mongoc_uri_destroy(m->uri);
    free(m);
    mongoc_cleanup();
}
