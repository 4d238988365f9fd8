/* recovery.c: opening and closing the store (store.h, docs/persistence.md): the data dir
 * and its lock, recovery of every segment into stored rooms, the rooms of --store
 * mongodb:// built the same way from the records mongo.c loads, and start-up compaction.
 *
 * Recovery reads every segment whole, scans its records (record.c) into one list per room
 * (pointers into the segment images, alive until the rooms are built), truncates torn tails,
 * refuses corruption in the middle of a segment (STORE_OPEN_CORRUPT, unless
 * --recover-truncate), then builds each room (rooms.c) on the table of the core that owns it
 * now: the latest snapshot, the ops after it replayed, the history window and the kept chat.
 *
 * Runs on the main thread only: store_open before any core runs, store_close after they all
 * stopped. It calls the write path (writer.c: open_segment, names_push) and the stored rooms;
 * neither calls it.
 */
#include "internal.h"

#include "hash.h"
#include "log.h"
#include "mongo.h"
#include "record.h"
#include "shard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- recovery ---- */

struct rop { uint64_t rev, ts, cseq; const uint8_t *from, *json, *cid; uint32_t from_len, json_len, cid_len; };
struct rchat { uint64_t seq, ts; const uint8_t *json; uint32_t len; };
struct relem { const char *id, *json; uint32_t id_len, len; int64_t version, nonce; };
struct rroom {
    struct rroom *next;
    char name[ROOM_NAME_MAX + 1];
    size_t name_len;
    bool has_snap;
    uint64_t snap_rev, snap_chat_seq;
    const uint8_t *snap_text;
    uint32_t snap_len;
    struct rop *ops;
    size_t nops, ops_cap;
    struct rchat *chats;
    size_t nchats, chats_cap;
    struct relem *elems;
    size_t nelems, elems_cap;
};

struct recovery {
    struct rroom **buckets;
    uint32_t nbuckets;
    uint8_t **images;            /* segment contents, alive until rooms are built */
    size_t nimages, images_cap;
    const char *file;            /* segment being parsed, for errors */
    size_t bad_off;
    bool bad;                    /* a payload that passed its CRC but does not parse */
    size_t nrecords;
};

static struct rroom *rroom_get(struct recovery *rc, const uint8_t *name, size_t len)
{
    uint64_t h = hash_fnv1a((const char *)name, len);
    struct rroom **p = &rc->buckets[h & (rc->nbuckets - 1)];
    for (struct rroom *r = *p; r; r = r->next)
        if (r->name_len == len && !memcmp(r->name, name, len)) return r;
    struct rroom *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    memcpy(r->name, name, len);
    r->name_len = len;
    r->next = *p;
    *p = r;
    return r;
}

#define GROW(arr, n, cap) \
    ((n) < (cap) || ((cap) = (cap) ? (cap) * 2 : 16, ((arr) = realloc((arr), (cap) * sizeof *(arr))) != NULL))

static void on_record(void *arg, const uint8_t *payload, size_t len, size_t off)
{
    struct recovery *rc = arg;
    if (rc->bad) return;
    struct store_rec d;
    struct rroom *rm = store_decode(payload, len, &d) ? rroom_get(rc, (const uint8_t *)d.room, d.room_len) : NULL;
    if (!rm) goto bad;
    switch (d.type) {
    case STORE_REC_OP: {
        struct rop o = { .rev = d.rev, .ts = d.ts, .cseq = d.cseq, .from = (const uint8_t *)d.from,
                         .json = (const uint8_t *)d.body, .cid = (const uint8_t *)d.cid, .from_len = d.from_len,
                         .json_len = d.body_len, .cid_len = d.cid_len };
        if (!GROW(rm->ops, rm->nops, rm->ops_cap)) goto bad;
        rm->ops[rm->nops++] = o;
        break;
    }
    case STORE_REC_SNAPSHOT:
        if (!rm->has_snap || d.rev > rm->snap_rev) {
            rm->has_snap = true;
            rm->snap_rev = d.rev;
            rm->snap_chat_seq = d.chat_seq;
            rm->snap_text = (const uint8_t *)d.body;
            rm->snap_len = d.body_len;
        }
        break;
    case STORE_REC_CHAT: {
        struct rchat c = { .seq = d.rev, .ts = d.ts, .json = (const uint8_t *)d.body, .len = d.body_len };
        if (!GROW(rm->chats, rm->nchats, rm->chats_cap)) goto bad;
        rm->chats[rm->nchats++] = c;
        break;
    }
    case STORE_REC_ELEMENT: {
        struct relem e = { d.id, d.body, d.id_len, d.body_len, d.version, d.nonce };
        if (!GROW(rm->elems, rm->nelems, rm->elems_cap)) goto bad;
        rm->elems[rm->nelems++] = e;
        break;
    }
    }
    rc->nrecords++;
    return;
bad:
    rc->bad = true;
    rc->bad_off = off;
}

static int cmp_rop(const void *a, const void *b)
{
    const struct rop *x = a, *y = b;
    return x->rev < y->rev ? -1 : x->rev > y->rev;
}
static int cmp_rchat(const void *a, const void *b)
{
    const struct rchat *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}
static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c) memcpy(c, p, n);
    return c;
}

/* Builds the stored room of rm and puts it on its owner's table. */
static enum store_open_result build_room(struct store *st, struct rroom *rm, char *err, size_t errlen)
{
    const struct config *cfg = &st->cfg;
    if (rm->nops) qsort(rm->ops, rm->nops, sizeof *rm->ops, cmp_rop);
    size_t kept = 0;
    for (size_t i = 0; i < rm->nops; i++) {
        if (kept && rm->ops[kept - 1].rev == rm->ops[i].rev) {
            /* a checkpoint's copy (the same op) is expected; two different ops are not */
            const struct rop *x = &rm->ops[kept - 1], *y = &rm->ops[i];
            if (x->json_len != y->json_len || memcmp(x->json, y->json, x->json_len) || x->from_len != y->from_len ||
                memcmp(x->from, y->from, x->from_len))
                log_warn("room %s: two different ops stored at rev %" PRIu64 "; one is used", rm->name, x->rev);
            continue;
        }
        rm->ops[kept++] = rm->ops[i];
    }
    rm->nops = kept;
    uint64_t base = rm->has_snap ? rm->snap_rev : 0;
    struct store_room *sr = sroom_new(cfg, rm->name, rm->name_len);
    if (!sr) goto oom;
    sr->doc = doc_new(rm->has_snap ? (const char *)rm->snap_text : "", rm->has_snap ? rm->snap_len : 0, base,
                      cfg->ot_window, cfg->max_doc_bytes);
    if (!sr->doc) {
        snprintf(err, errlen, "room %s: the snapshot at rev %" PRIu64 " is not valid UTF-8 or is over --max-doc-bytes",
                 rm->name, base);
        sroom_free(sr);
        return STORE_OPEN_CORRUPT;
    }
    ot_op op;
    ot_op_init(&op);
    size_t applied_to = 0;     /* ops[0..applied_to) are <= the doc's revision */
    for (size_t i = 0; i < rm->nops; i++) {
        struct rop *o = &rm->ops[i];
        uint64_t cur = doc_rev(sr->doc);
        if (o->rev <= cur) {
            applied_to = i + 1;
            continue;
        }
        if (o->rev != cur + 1) {
            if (cfg->recover_truncate) {
                log_error("room %s: ops %" PRIu64 "..%" PRIu64 " missing; dropping %zu later ops (--recover-truncate)",
                          rm->name, cur + 1, o->rev - 1, rm->nops - i);
                break;
            }
            snprintf(err, errlen, "room %s: ops %" PRIu64 "..%" PRIu64 " are missing from the log (a segment was lost or cut); "
                     "start with --recover-truncate to keep the room at rev %" PRIu64, rm->name, cur + 1, o->rev - 1, cur);
            ot_op_free(&op);
            sroom_free(sr);
            return STORE_OPEN_CORRUPT;
        }
        int rc = ot_op_parse(&op, (const char *)o->json, o->json_len);
        if (rc == OT_OK) rc = doc_receive(sr->doc, (int64_t)cur, &op);
        if (rc != OT_OK) {
            snprintf(err, errlen, "room %s: stored op rev %" PRIu64 " does not apply to the document (%s)", rm->name,
                     o->rev, rc == DOC_ETOOBIG ? "over --max-doc-bytes" : "bad op");
            ot_op_free(&op);
            sroom_free(sr);
            return STORE_OPEN_CORRUPT;
        }
        applied_to = i + 1;
    }
    ot_op_free(&op);
    /* history: the longest contiguous run of ops ending at the doc's revision */
    size_t end = applied_to, start = end;
    uint64_t want = doc_rev(sr->doc);
    while (start > 0 && rm->ops[start - 1].rev == want && end - start < cfg->history_window) {
        start--;
        want--;
    }
    sr->durable_rev = doc_rev(sr->doc);
    for (size_t i = start; i < end; i++) {
        struct rop *o = &rm->ops[i];
        char *f = dup_bytes(o->from, o->from_len), *j = dup_bytes(o->json, o->json_len);
        if (!f || !j || !sroom_push_op(sr, o->rev, o->ts, f, o->from_len, j, o->json_len)) {
            free(f);
            free(j);
            sroom_free(sr);
            goto oom;
        }
        cid_note(sr, (const char *)o->cid, o->cid_len, o->cseq, o->rev);
    }
    sr->snap_rev = rm->has_snap ? rm->snap_rev : 0;
    if (rm->nchats) qsort(rm->chats, rm->nchats, sizeof *rm->chats, cmp_rchat);
    kept = 0;
    for (size_t i = 0; i < rm->nchats; i++)          /* a checkpoint may repeat what it copied */
        if (!kept || rm->chats[kept - 1].seq != rm->chats[i].seq) rm->chats[kept++] = rm->chats[i];
    rm->nchats = kept;
    sr->chat_seq = rm->has_snap ? rm->snap_chat_seq : 0;
    size_t c0 = rm->nchats > cfg->chat_history ? rm->nchats - cfg->chat_history : 0;
    for (size_t i = 0; i < rm->nchats; i++) {
        if (rm->chats[i].seq > sr->chat_seq) sr->chat_seq = rm->chats[i].seq;
        if (i >= c0 && !sroom_push_chat(sr, cfg->chat_history, rm->chats[i].seq, rm->chats[i].ts,
                                        (const char *)rm->chats[i].json, rm->chats[i].len)) {
            sroom_free(sr);
            goto oom;
        }
    }
    for (size_t i = 0; i < rm->nelems; i++) {      /* winners, merged again: any order gives the last */
        const struct relem *e = &rm->elems[i];
        if (element_merge(sr, e->id, e->id_len, e->version, e->nonce, e->json, e->len, UINT32_MAX) == STORE_ELEMENT_NOMEM) {
            sroom_free(sr);
            goto oom;
        }
    }
    sroom_insert(&st->cores[shard_owner(rm->name, rm->name_len, st->ncores)], sr);
    return STORE_OPEN_OK;
oom:
    snprintf(err, errlen, "out of memory rebuilding room %s", rm->name);
    return STORE_OPEN_FAILED;
}

static int read_whole(int dirfd, const char *name, uint8_t **out, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat sb;
    if (fstat(fd, &sb)) { int e = -errno; close(fd); return e; }
    size_t n = (size_t)sb.st_size, got = 0;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) { close(fd); return -ENOMEM; }
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { int e = r < 0 ? -errno : -EIO; free(p); close(fd); return e; }
        got += (size_t)r;
    }
    close(fd);
    *out = p;
    *len = n;
    return 0;
}

static int truncate_segment(int dirfd, const char *name, size_t len)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = ftruncate(fd, (off_t)len) || fsync(fd) ? -errno : 0;
    close(fd);
    return r;
}

static void recovery_free(struct recovery *rc)
{
    for (uint32_t b = 0; b < rc->nbuckets; b++) {
        struct rroom *r = rc->buckets[b];
        while (r) {
            struct rroom *n = r->next;
            free(r->ops);
            free(r->chats);
            free(r->elems);
            free(r);
            r = n;
        }
    }
    free(rc->buckets);
    for (size_t i = 0; i < rc->nimages; i++) free(rc->images[i]);
    free(rc->images);
}

/* ---- start-up compaction ---- */

static bool write_all(int fd, const uint8_t *p, size_t n, uint64_t *off)
{
    while (n) {
        ssize_t r = pwrite(fd, p, n, (off_t)*off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
        *off += (uint64_t)r;
    }
    return true;
}

/* Startup compaction: everything the rooms need (a snapshot, the ops of the history window,
 * the kept chat) is written to one new segment and made durable, then the old segments are
 * removed. A crash in between leaves both: recovery ignores the repeated ops and chat. Ops
 * older than the history window leave the disk here. Failure is not fatal: the old segments
 * stay. */
/* Returns true if the old segments were replaced by one (written into name[32]). */
static bool checkpoint(struct store *st, char **names, size_t nnames, size_t old_bytes, char name[32])
{
    char err[256];
    int fd = open_segment(st, name, err, sizeof err);
    if (fd < 0) {
        log_warn("op log: no compaction: %s", err);
        return false;
    }
    struct store_buf b = { 0 };
    uint64_t off = 0;
    bool ok = true;
    size_t nrooms = 0;
    for (uint32_t c = 0; c < st->ncores && ok; c++) {
        struct store_core *sc = &st->cores[c];
        for (uint32_t k = 0; k < sc->nbuckets && ok; k++)
            for (struct store_room *sr = sc->buckets[k]; sr && ok; sr = sr->hnext) {
                ok = encode_room_state(&b, sr);
                if (ok && b.len >= (8u << 20)) {
                    ok = write_all(fd, b.p, b.len, &off);
                    b.len = 0;
                }
                nrooms++;
            }
    }
    if (ok) ok = write_all(fd, b.p, b.len, &off) && fdatasync(fd) == 0 && fsync(st->dirfd) == 0;
    store_buf_free(&b);
    close(fd);
    if (!ok) {
        log_warn("op log: compaction failed (%s); keeping the old segments", strerror(errno));
        unlinkat(st->dirfd, name, 0);
        return false;
    }
    for (size_t i = 0; i < nnames; i++) unlinkat(st->dirfd, names[i], 0);
    fsync(st->dirfd);
    log_info("op log: compacted %zu segments (%zu bytes) into %s (%llu bytes, %zu rooms)", nnames, old_bytes, name,
             (unsigned long long)off, nrooms);
    return true;
}

/* ---- the rooms of a data dir, or of MongoDB's records ---- */

static enum store_open_result build_rooms(struct store *st, struct recovery *rc, size_t *nrooms, char *err,
                                          size_t errlen)
{
    enum store_open_result code = STORE_OPEN_OK;
    for (uint32_t b = 0; b < rc->nbuckets && code == STORE_OPEN_OK; b++)
        for (struct rroom *r = rc->buckets[b]; r && code == STORE_OPEN_OK; r = r->next) {
            code = build_room(st, r, err, errlen);
            (*nrooms)++;
        }
    return code;
}

/* --store mongodb://: the rooms come from MongoDB as records (mongo.h), built like the log's. */
static enum store_open_result recover_mongo(struct store *st, char *err, size_t errlen)
{
    struct store_buf img = { 0 };
    if (mongo_store_load(st->mongo, st->cfg.history_window, st->cfg.chat_history, &img, err, errlen)) {
        store_buf_free(&img);
        return STORE_OPEN_FAILED;
    }
    struct recovery rc = { .nbuckets = 4096 };
    rc.buckets = calloc(rc.nbuckets, sizeof *rc.buckets);
    enum store_open_result code = rc.buckets ? STORE_OPEN_OK : STORE_OPEN_FAILED;
    size_t valid, n, nrooms = 0;
    const char *why;
    if (code == STORE_OPEN_OK &&
        (store_scan(img.p, img.len, &valid, &n, &why, on_record, &rc) != STORE_SCAN_OK || rc.bad)) {
        snprintf(err, errlen, "mongodb: a stored document does not make a valid record");
        code = STORE_OPEN_FAILED;
    }
    if (code == STORE_OPEN_OK) code = build_rooms(st, &rc, &nrooms, err, errlen);
    if (code == STORE_OPEN_OK) log_info("mongodb: %zu rooms ready from %zu documents", nrooms, n);
    recovery_free(&rc);
    store_buf_free(&img);
    return code;
}

static enum store_open_result recover(struct store *st, char *err, size_t errlen)
{
    const struct config *cfg = &st->cfg;
    struct recovery rc = { .nbuckets = 4096 };
    rc.buckets = calloc(rc.nbuckets, sizeof *rc.buckets);
    if (!rc.buckets) return STORE_OPEN_FAILED;
    int dfd = dup(st->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir, strerror(errno));
        if (dfd >= 0) close(dfd);
        recovery_free(&rc);
        return STORE_OPEN_FAILED;
    }
    char **names = NULL;
    size_t nnames = 0, names_cap = 0;
    struct dirent *de;
    uint64_t max_seq = 0;
    while ((de = readdir(d))) {
        unsigned long long seq;
        int used = 0;
        if (sscanf(de->d_name, "seg-%16llu.log%n", &seq, &used) != 1 || de->d_name[used] || strlen(de->d_name) != 24) continue;
        if (seq > max_seq) max_seq = seq;
        if (!GROW(names, nnames, names_cap) || !(names[nnames] = strdup(de->d_name))) {
            closedir(d);
            snprintf(err, errlen, "out of memory listing %s", cfg->data_dir);
            return STORE_OPEN_FAILED;
        }
        nnames++;
    }
    closedir(d);
    if (nnames) qsort(names, nnames, sizeof *names, cmp_name);
    atomic_store(&st->next_seg, max_seq + 1);
    enum store_open_result code = STORE_OPEN_OK;
    size_t total_records = 0, total_bytes = 0, nonempty = 0;
    for (size_t i = 0; i < nnames && code == STORE_OPEN_OK; i++) {
        uint8_t *img = NULL;
        size_t len = 0;
        int r = read_whole(st->dirfd, names[i], &img, &len);
        if (r) {
            snprintf(err, errlen, "--data-dir %s: reading %s: %s", cfg->data_dir, names[i], strerror(-r));
            code = STORE_OPEN_FAILED;
            break;
        }
        if (len == 0) {                       /* a run that never wrote: nothing to keep */
            free(img);
            unlinkat(st->dirfd, names[i], 0);
            continue;
        }
        nonempty++;
        if (!GROW(rc.images, rc.nimages, rc.images_cap)) {
            free(img);
            code = STORE_OPEN_FAILED;
            snprintf(err, errlen, "out of memory");
            break;
        }
        rc.images[rc.nimages++] = img;
        size_t valid, n;
        const char *why;
        rc.file = names[i];
        rc.bad = false;
        enum store_scan s = store_scan(img, len, &valid, &n, &why, on_record, &rc);
        if (rc.bad) {            /* a record with a good CRC that does not parse: treat as corrupt */
            s = STORE_SCAN_CORRUPT;
            valid = rc.bad_off;
            why = "record with a valid CRC but an unknown layout";
        }
        if (s == STORE_SCAN_TORN) {
            log_warn("op log: %s: dropping %zu bytes at offset %zu (%s): a write cut short by a crash, or a damaged last record",
                     names[i], len - valid, valid, why);
            if ((r = truncate_segment(st->dirfd, names[i], valid))) {
                snprintf(err, errlen, "--data-dir %s: truncating %s: %s", cfg->data_dir, names[i], strerror(-r));
                code = STORE_OPEN_FAILED;
            }
        } else if (s == STORE_SCAN_CORRUPT) {
            if (!cfg->recover_truncate) {
                snprintf(err, errlen, "--data-dir %s: segment %s is corrupt at offset %zu (%s) with %zu more bytes after it; "
                         "refusing to start. Restore the file, or start with --recover-truncate to cut the segment there "
                         "(dropping those bytes, which may hold acked ops)", cfg->data_dir, names[i], valid, why, len - valid);
                code = STORE_OPEN_CORRUPT;
            } else {
                log_error("op log: %s: corrupt at offset %zu (%s): dropping the %zu bytes from there (--recover-truncate)",
                          names[i], valid, why, len - valid);
                if ((r = truncate_segment(st->dirfd, names[i], valid))) {
                    snprintf(err, errlen, "--data-dir %s: truncating %s: %s", cfg->data_dir, names[i], strerror(-r));
                    code = STORE_OPEN_FAILED;
                }
            }
        }
        total_records += n;
        total_bytes += valid;
    }
    size_t nrooms = 0;
    if (code == STORE_OPEN_OK) code = build_rooms(st, &rc, &nrooms, err, errlen);
    if (code == STORE_OPEN_OK)
        log_info("op log: recovered %zu rooms from %zu records (%zu bytes) in %s", nrooms, total_records, total_bytes,
                 cfg->data_dir);
    recovery_free(&rc);
    /* what is left on disk from before this start: removed once every core has checkpointed */
    char compacted[32];
    if (code == STORE_OPEN_OK && nonempty > 1 && total_bytes > cfg->segment_bytes &&
        checkpoint(st, names, nnames, total_bytes, compacted))
        names_push(&st->startup, compacted);
    else
        for (size_t i = 0; i < nnames && code == STORE_OPEN_OK; i++) names_push(&st->startup, names[i]);
    for (size_t i = 0; i < nnames; i++) free(names[i]);
    free(names);
    return code;
}

/* ---- open, close ---- */

enum store_open_result store_open(struct store **out, const struct config *cfg, uint32_t ncores, char *err,
                                  size_t errlen)
{
    *out = NULL;
    store_crc32c_init();
    struct store *st = calloc(1, sizeof *st);
    if (!st) return STORE_OPEN_FAILED;
    st->cfg = *cfg;
    st->ncores = ncores;
    st->dirfd = st->lockfd = -1;
    st->cores = calloc(ncores, sizeof *st->cores);
    if (!st->cores) { free(st); return STORE_OPEN_FAILED; }
    for (uint32_t i = 0; i < ncores; i++) {
        struct store_core *sc = &st->cores[i];
        sc->st = st;
        sc->id = i;
        sc->fd = -1;
        sc->nbuckets = 256;
        sc->buckets = calloc(sc->nbuckets, sizeof *sc->buckets);
        if (!sc->buckets) { store_close(st); return STORE_OPEN_FAILED; }
    }
    enum store_open_result code = STORE_OPEN_FAILED;
    if (strcmp(cfg->store, "embedded")) {
        if (mongo_store_open(&st->mongo, cfg->store, ncores, err, errlen) ||
            (code = recover_mongo(st, err, errlen)) != STORE_OPEN_OK)
            goto fail;
        for (uint32_t i = 0; i < ncores; i++) st->cores[i].mw = mongo_store_writer(st->mongo, i);
        *out = st;
        return STORE_OPEN_OK;
    }
    if (mkdir(cfg->data_dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir, strerror(errno));
        goto fail;
    }
    st->dirfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dirfd < 0) {
        snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir, strerror(errno));
        goto fail;
    }
    st->lockfd = openat(st->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->lockfd < 0 || flock(st->lockfd, LOCK_EX | LOCK_NB)) {
        snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir,
                 errno == EWOULDBLOCK ? "in use by another ringroom process (LOCK is held)" : strerror(errno));
        goto fail;
    }
    if ((code = recover(st, err, errlen)) != STORE_OPEN_OK) goto fail;
    code = STORE_OPEN_FAILED;
    for (uint32_t i = 0; i < ncores; i++) {
        if ((st->cores[i].fd = open_segment(st, st->cores[i].seg_name, err, errlen)) < 0) goto fail;
        if (st->cores[i].count == 0) {          /* none of its rooms is in the old segments */
            st->cores[i].checkpointed = true;
            atomic_fetch_add(&st->cores_checkpointed, 1);
        }
    }
    *out = st;
    return STORE_OPEN_OK;
fail:
    store_close(st);
    return code;
}

void store_close(struct store *st)
{
    if (!st) return;
    mongo_store_close(st->mongo);         /* first: its threads may still read a core's flight */
    for (uint32_t i = 0; st->cores && i < st->ncores; i++) {
        struct store_core *sc = &st->cores[i];
        for (uint32_t b = 0; b < sc->nbuckets && sc->buckets; b++) {
            struct store_room *r = sc->buckets[b];
            while (r) {
                struct store_room *n = r->hnext;
                sroom_free(r);
                r = n;
            }
        }
        free(sc->buckets);
        store_buf_free(&sc->fill);
        store_buf_free(&sc->flight);
        free(sc->closed.v);
        free(sc->cp_closed.v);
        free(sc->doomed.v);
        free(sc->removing.v);
        free(sc->cp_rooms);
        free(sc->w);
        if (sc->fd >= 0) {
            close(sc->fd);
            if (sc->seg_off == 0 && !sc->inflight) unlinkat(st->dirfd, sc->seg_name, 0);   /* never written */
        }
    }
    free(st->cores);
    free(st->startup.v);
    if (st->lockfd >= 0) close(st->lockfd);
    if (st->dirfd >= 0) close(st->dirfd);
    free(st);
}
