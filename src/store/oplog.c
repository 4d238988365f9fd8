/* oplog.c: the embedded op log, and what the MongoDB back end shares with it: group commit,
 * waiters, recovery (see store.h and docs/persistence.md). The stored rooms in memory are
 * rooms.c's, the structures internal.h's.
 *
 * Write path, per core: records are encoded into `fill`. When it is time (at once with
 * --fsync always/off; with batch, at once unless the previous write started less than
 * --fsync-interval ago, then when that interval is over), fill becomes `flight` and one
 * IORING_OP_WRITE at an explicit offset, linked to IORING_OP_FSYNC(DATASYNC), is queued on
 * the core's ring; records appended meanwhile wait in fill for the next one (group commit).
 * Only one chain is in flight per core, so the file grows strictly in order and an fdatasync
 * always covers every byte before it. Waiters (one per op, FIFO) are released when the
 * durable position passes their record's end. A failed or short write keeps flight; a short
 * write with progress is resubmitted at once, an error (ENOSPC, EIO, failed fdatasync) marks
 * the core unavailable (new ops are refused) and is retried every RETRY_MS until it works.
 * With --store mongodb:// the flight goes to the core's MongoDB writer thread instead
 * (mongo.h) and its eventfd completion stands for the write + fdatasync.
 *
 * Space: segments rotate at --segment-bytes; online checkpoints (checkpoint_start) rewrite a
 * core's rooms into a new segment and remove the segments that covers; at start-up a log of
 * several segments is compacted into one (checkpoint).
 *
 * The records themselves (framing, CRC32C, payload layouts, scanning) are record.c's.
 */
#include "internal.h"

#include "core.h"
#include "mongo.h"
#include "record.h"
#include "hash.h"
#include "log.h"
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

#define RETRY_MS 100
#define BATCH_MAX_BYTES (1u << 20)      /* batch: a fill this big is written without waiting */
#define FILL_LIMIT (256u << 20)          /* unwritten bytes beyond which ops are refused */
#define UD_STORE_WRITE 1
#define UD_STORE_FSYNC 2
#define UD_STORE_MONGO 3                 /* the MongoDB writer finished a batch (its eventfd) */
#define UD_STORE_UNLINK 4                /* a covered segment's unlink (its index in removing << 8) */
#define UD_STORE_DIRSYNC 5               /* the directory fsync after those unlinks */

/* ---- segments ---- */

bool names_push(struct seg_names *l, const char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char (*v)[32] = realloc(l->v, cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    snprintf(l->v[l->n++], 32, "%s", name);
    return true;
}

int open_segment(struct store *st, char name[32], char *err, size_t errlen)
{
    uint64_t seq = atomic_fetch_add(&st->next_seg, 1);
    snprintf(name, 32, "seg-%016" PRIu64 ".log", seq);
    int fd = openat(st->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "--data-dir %s: creating %s: %s", st->cfg.data_dir, name, strerror(errno));
        return -1;
    }
    /* the new name must survive a crash before its first record is acked */
    if (fsync(st->dirfd)) {
        snprintf(err, errlen, "--data-dir %s: fsync: %s", st->cfg.data_dir, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the write path ---- */

bool store_core_unavailable(const struct store_core *sc)
{
    return sc->unavailable || sc->fill.len > FILL_LIMIT;
}

static void set_unavailable(struct store_core *sc, bool on, const char *why)
{
    if (on == sc->unavailable) return;
    sc->unavailable = on;
    if (on) {
        atomic_fetch_add(&sc->st->degraded, 1);
        log_error("op log: writing to %s failed: %s; refusing ops, retrying every %d ms",
                  sc->mw ? "MongoDB" : sc->st->cfg.data_dir, why, RETRY_MS);
    } else {
        atomic_fetch_sub(&sc->st->degraded, 1);
        log_info("op log: writes succeed again; accepting ops");
    }
}

static bool rotate(struct store_core *sc)
{
    char err[256], name[32];
    int fd = open_segment(sc->st, name, err, sizeof err);
    if (fd < 0) {
        log_warn("op log: rotation failed (%s); continuing in the current segment", err);
        return false;
    }
    names_push(&sc->closed, sc->seg_name);      /* out of memory: that one is never removed */
    close(sc->fd);
    sc->fd = fd;
    memcpy(sc->seg_name, name, sizeof sc->seg_name);
    sc->seg_off = 0;
    return true;
}

/* Online checkpoint (segment removal without a restart): once a core has appended
 * max(--segment-bytes, 2 x its last checkpoint) since its last one, it starts a new segment
 * and appends to it the whole state of its rooms (encode_room_state), at most CHECKPOINT_SLICE
 * bytes per batch so that no loop turn stalls on a big checkpoint. When the last room's state
 * is durable, every segment the core closed before the checkpoint started is covered (a room's
 * records are in its own core's segments, plus the segments from before the start; what a room
 * appended after its state was written is in the new segments too) and is removed; the
 * segments from before the start go when every core has had a checkpoint. Disk use stays
 * within about 3 x the rooms' state + 2 segments per core, and the rewriting costs at most
 * half of what is appended. Runs between batches (nothing in flight), so the rotation closes
 * a complete segment. */
#define CHECKPOINT_SLICE (64u << 10)

static void checkpoint_start(struct store_core *sc)
{
    sc->since_cp = 0;                              /* failed: try again after as many bytes */
    struct store_room **rooms = malloc((sc->count ? sc->count : 1) * sizeof *rooms);
    if (!rooms || !rotate(sc)) {
        free(rooms);
        return;
    }
    size_t n = 0;                  /* stored rooms live as long as the process: pointers stay valid */
    for (uint32_t k = 0; k < sc->nbuckets; k++)
        for (struct store_room *sr = sc->buckets[k]; sr && n < sc->count; sr = sr->hnext) rooms[n++] = sr;
    sc->cp_rooms = rooms;
    sc->cp_n = n;
    sc->cp_next = 0;
    sc->cp_bytes = 0;
    sc->cp_slices = 0;
    struct seg_names t = sc->cp_closed;            /* the segments this checkpoint covers */
    sc->cp_closed = sc->closed;
    sc->closed = t;
    sc->closed.n = 0;
}

static void checkpoint_step(struct store_core *sc)
{
    size_t before = sc->fill.len;
    bool ok = true;
    while (ok && sc->cp_next < sc->cp_n && sc->fill.len - before < CHECKPOINT_SLICE)
        ok = encode_room_state(&sc->fill, sc->cp_rooms[sc->cp_next++]);
    if (!ok) {
        sc->fill.len = before;                     /* earlier slices are valid records: harmless */
        log_warn("op log: checkpoint of core %u failed (out of memory, or a document too large for a record); "
                 "old segments stay", sc->id);
        for (size_t i = 0; i < sc->cp_closed.n; i++) names_push(&sc->closed, sc->cp_closed.v[i]);
        sc->cp_closed.n = 0;
    }
    sc->appended += sc->fill.len - before;
    sc->cp_bytes += sc->fill.len - before;
    sc->cp_slices++;
    if (ok && sc->cp_next < sc->cp_n) return;
    free(sc->cp_rooms);
    sc->cp_rooms = NULL;
    if (!ok) return;
    sc->last_cp_bytes = sc->cp_bytes;
    struct seg_names t = sc->doomed;
    sc->doomed = sc->cp_closed;
    sc->cp_closed = t;
    sc->cp_closed.n = 0;
    sc->doomed_at = sc->appended;
    log_debug("op log: core %u checkpoint: %zu rooms, %llu bytes in %zu batches, %zu segments to remove", sc->id,
              sc->cp_n, (unsigned long long)sc->cp_bytes, sc->cp_slices, sc->doomed.n);
}

/* The checkpoint is durable: the segments it covers go. Unlinking a 64 MiB segment took
 * about 22 ms on ext4 here (freeing its blocks), a stall of every connection on the core
 * when it ran on the loop, so the unlinks go through the ring (io-wq runs them) and, once all
 * are done, the directory fsync. One removal at a time: no checkpoint starts before it ends. */
static void checkpoint_durable(struct store_core *sc)
{
    struct store *st = sc->st;
    for (size_t i = 0; i < sc->doomed.n; i++) names_push(&sc->removing, sc->doomed.v[i]);
    sc->doomed.n = 0;
    if (!sc->checkpointed) {
        sc->checkpointed = true;
        if (atomic_fetch_add(&st->cores_checkpointed, 1) + 1 == st->ncores)
            for (size_t i = 0; i < st->startup.n; i++) names_push(&sc->removing, st->startup.v[i]);
    }
    /* a name names_push could not keep (out of memory) stays on disk, as a failed unlink does */
    for (size_t i = 0; i < sc->removing.n; i++) {
        struct io_uring_sqe *sqe = core_sqe(sc->co);
        io_uring_prep_unlinkat(sqe, st->dirfd, sc->removing.v[i], 0);
        io_uring_sqe_set_data64(sqe, ud_make(UD_STORE, UD_STORE_UNLINK | (uint64_t)i << 8));
    }
    sc->removing_left = sc->removing.n;
}

/* An unlink (or the directory fsync after the last one) completed. */
static void removal_done(struct store_core *sc, uint64_t kind, uint64_t idx, int res)
{
    struct store *st = sc->st;
    if (kind == UD_STORE_UNLINK) {
        if (res < 0 && res != -ENOENT && idx < sc->removing.n)
            log_warn("op log: removing %s: %s", sc->removing.v[idx], strerror(-res));
        if (--sc->removing_left) return;
        struct io_uring_sqe *sqe = core_sqe(sc->co);
        io_uring_prep_fsync(sqe, st->dirfd, 0);
        io_uring_sqe_set_data64(sqe, ud_make(UD_STORE, UD_STORE_DIRSYNC));
        return;
    }
    if (res < 0) log_warn("op log: fsync of %s: %s", st->cfg.data_dir, strerror(-res));
    log_info("op log: core %u checkpoint durable (%llu bytes); removed %zu old segments", sc->id,
             (unsigned long long)sc->last_cp_bytes, sc->removing.n);
    sc->removing.n = 0;
}

static void submit_chain(struct store_core *sc)
{
    struct core *co = sc->co;
    sc->chain_err = 0;
    sc->chain_synced = false;
    sc->fsync_failed = false;
    sc->t_submit = clock_ns();
    if (sc->mw) {                  /* the writer thread takes the whole flight; its eventfd says when */
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_read(sqe, mongo_writer_eventfd(sc->mw), &sc->mongo_count, sizeof sc->mongo_count, 0);
        io_uring_sqe_set_data64(sqe, ud_make(UD_STORE, UD_STORE_MONGO));
        sc->inflight = 1;
        mongo_writer_submit(sc->mw, sc->flight.p, sc->flight.len);
        return;
    }
    if (sc->flight_written == 0 && sc->seg_off >= sc->st->cfg.segment_bytes) rotate(sc);
    bool sync = sc->st->cfg.fsync_mode != FSYNC_OFF;
    /* both SQEs in the same submission, or the link would be cut */
    if (io_uring_sq_space_left(&co->ring) < 2) io_uring_submit(&co->ring);
    struct io_uring_sqe *sqe = core_sqe(co);
    io_uring_prep_write(sqe, sc->fd, sc->flight.p + sc->flight_written,
                        (unsigned)(sc->flight.len - sc->flight_written), sc->seg_off + sc->flight_written);
    io_uring_sqe_set_data64(sqe, ud_make(UD_STORE, UD_STORE_WRITE));
    sc->inflight = 1;
    if (sync) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = core_sqe(co);
        io_uring_prep_fsync(sqe, sc->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, ud_make(UD_STORE, UD_STORE_FSYNC));
        sc->inflight = 2;
    }
}

uint32_t store_flush(struct store_core *sc)
{
    if (!sc || !sc->co || sc->inflight) return UINT32_MAX;
    if (sc->flight.len) {
        if (sc->unavailable) return UINT32_MAX;     /* store_tick retries */
        submit_chain(sc);                           /* a short write made progress: go on */
        return UINT32_MAX;
    }
    if (!sc->fill.len && !sc->cp_rooms) return UINT32_MAX;
    if (sc->st->cfg.fsync_mode == FSYNC_BATCH && sc->fill.len < BATCH_MAX_BYTES) {
        /* at most one write + fdatasync per interval: an idle log writes at once, a busy one
         * gathers up to an interval's worth of records per fdatasync */
        uint64_t gap_ns = (uint64_t)sc->st->cfg.fsync_interval_ms * 1000000u, now = clock_ns();
        if (now - sc->t_submit < gap_ns) {
            uint64_t left = gap_ns - (now - sc->t_submit);
            return (uint32_t)((left + 999999) / 1000000);
        }
    }
    if (!sc->mw) {
        uint64_t cp_every = sc->last_cp_bytes * 2 > sc->st->cfg.segment_bytes ? sc->last_cp_bytes * 2
                                                                              : sc->st->cfg.segment_bytes;
        if (!sc->cp_rooms && !sc->doomed.n && !sc->removing.n && sc->since_cp >= cp_every) checkpoint_start(sc);
        if (sc->cp_rooms) checkpoint_step(sc);
    }
    if (!sc->fill.len) return UINT32_MAX;
    struct store_buf t = sc->flight;
    sc->flight = sc->fill;
    sc->fill = t;
    sc->fill.len = 0;
    sc->flight_written = 0;
    submit_chain(sc);
    return UINT32_MAX;
}

static void release_waiters(struct store_core *sc)
{
    while (sc->w_len && sc->w[sc->w_head].end <= sc->durable) {
        struct waiter wt = sc->w[sc->w_head];
        sc->w_head = (sc->w_head + 1) % sc->w_cap;
        sc->w_len--;
        enum store_outcome out = wt.ack_only ? STORE_ACK_ONLY : STORE_DURABLE;
        if (wt.sr->fence_rev && wt.rev >= wt.sr->fence_rev) out = STORE_CONFLICT;   /* not written */
        else if (wt.rev > wt.sr->durable_rev) wt.sr->durable_rev = wt.rev;
        if (sc->on_durable) sc->on_durable(sc->co, wt.sr, wt.rev, wt.conn_idx, wt.conn_gen, out);
    }
}

static void chain_done(struct store_core *sc)
{
    bool sync = sc->st->cfg.fsync_mode != FSYNC_OFF;
    bool complete = sc->flight_written == sc->flight.len;
    if (complete && !sc->chain_err && (!sync || sc->chain_synced)) {
        sc->seg_off += sc->flight.len;
        sc->durable += sc->flight.len;
        sc->flight.len = 0;
        sc->flight_written = 0;
        set_unavailable(sc, false, NULL);
        release_waiters(sc);
        if (sc->doomed.n && sc->durable >= sc->doomed_at) checkpoint_durable(sc);
        return;
    }
    if (sc->fsync_failed) sc->flight_written = 0;   /* pages may be lost: write it all again */
    if (sc->chain_err) {
        stat_add(&sc->co->stats.store_errors, 1);
        set_unavailable(sc, true, sc->mw ? mongo_writer_result(sc->mw)->msg : strerror(-sc->chain_err));
        sc->retry_at_ms = clock_ms() + RETRY_MS;
    }
    /* else a short write that made progress: store_flush resubmits the rest */
}

/* The MongoDB writer's batch ended: the whole flight is written, or none of it counts. */
static void mongo_batch_done(struct store_core *sc, int res, uint64_t now)
{
    const struct mongo_batch_result *r = mongo_writer_result(sc->mw);
    hist_observe(&sc->co->stats.store_write, now - sc->t_submit);
    if (res < 0) {
        sc->chain_err = res;          /* cannot happen short of a kernel bug: retried */
        return;
    }
    if (!r->ok) {
        sc->chain_err = -EIO;
        return;
    }
    for (size_t i = 0; i < r->fenced.n; i++) {
        const struct mongo_fence *f = &r->fenced.v[i];
        struct store_room *sr = store_room_get(sc, f->room, f->room_len, false);
        if (sr && (!sr->fence_rev || f->rev < sr->fence_rev)) {
            if (!sr->fence_rev)
                log_error("mongodb: room %s: revision %" PRIu64 " is held by another writer's op; the room is fenced "
                          "(its ops from there are refused with store-conflict until a restart reloads it)", sr->name, f->rev);
            sr->fence_rev = f->rev;
        }
    }
    sc->flight_written = sc->flight.len;
    sc->chain_synced = true;
}

void store_on_cqe(struct store_core *sc, struct io_uring_cqe *cqe)
{
    uint64_t kind = cqe->user_data & 0xFF, now = clock_ns();
    int res = cqe->res;
    if (kind == UD_STORE_UNLINK || kind == UD_STORE_DIRSYNC) {     /* not part of the write chain */
        removal_done(sc, kind, ud_payload(cqe->user_data) >> 8, res);
        return;
    }
    if (kind == UD_STORE_MONGO) {
        mongo_batch_done(sc, res, now);
    } else if (kind == UD_STORE_WRITE) {
        hist_observe(&sc->co->stats.store_write, now - sc->t_submit);
        sc->t_written = now;
        if (res < 0) {
            sc->chain_err = res;
        } else if (res == 0 && sc->flight_written < sc->flight.len) {
            sc->chain_err = -ENOSPC;                /* no progress: treat as full */
        } else {
            sc->flight_written += (size_t)res;
        }
    } else {
        if (res == 0) {
            sc->chain_synced = true;
            hist_observe(&sc->co->stats.store_fsync, now - sc->t_written);
        } else if (res != -ECANCELED) {
            sc->chain_err = res;
            sc->fsync_failed = true;
        }
    }
    if (--sc->inflight == 0) chain_done(sc);
}

void store_tick(struct store_core *sc)
{
    if (!sc || !sc->co || sc->inflight || !sc->unavailable || !sc->flight.len) return;
    if (clock_ms() < sc->retry_at_ms) return;
    submit_chain(sc);
}

void store_core_finish(struct store_core *sc)
{
    if (!sc || !sc->co) return;
    sc->on_durable = NULL;                 /* connections are going away: no more acks */
    struct core *co = sc->co;
    uint64_t deadline = clock_ms() + 5000;
    while (clock_ms() < deadline) {
        if (!sc->inflight) {
            if (sc->unavailable || (!sc->flight.len && !sc->fill.len)) break;
            if (!sc->flight.len) {
                struct store_buf t = sc->flight;
                sc->flight = sc->fill;
                sc->fill = t;
                sc->fill.len = 0;
                sc->flight_written = 0;
            }
            submit_chain(sc);
        }
        struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };
        struct io_uring_cqe *first;
        io_uring_submit_and_wait_timeout(&co->ring, &first, 1, &ts, NULL);
        unsigned head, n = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&co->ring, head, cqe) {
            if (ud_kind_of(cqe->user_data) == UD_STORE) store_on_cqe(sc, cqe);
            n++;
        }
        io_uring_cq_advance(&co->ring, n);
    }
    if (sc->flight.len || sc->fill.len)
        log_warn("op log: %zu bytes not written at exit (nothing acked is among them)", sc->flight.len + sc->fill.len);
}

static bool push_waiter(struct store_core *sc, struct waiter w)
{
    if (sc->w_len == sc->w_cap) {
        size_t cap = sc->w_cap ? sc->w_cap * 2 : 256;
        struct waiter *n = malloc(cap * sizeof *n);
        if (!n) return false;
        for (size_t i = 0; i < sc->w_len; i++) n[i] = sc->w[(sc->w_head + i) % sc->w_cap];
        free(sc->w);
        sc->w = n;
        sc->w_cap = cap;
        sc->w_head = 0;
    }
    sc->w[(sc->w_head + sc->w_len++) % sc->w_cap] = w;
    return true;
}

static void fill_appended(struct store_core *sc, size_t before)
{
    sc->appended += sc->fill.len - before;
    sc->since_cp += sc->fill.len - before;
}

bool store_append_op(struct store_core *sc, struct store_room *sr, uint64_t rev, uint64_t ts,
                     const char *from, size_t from_len, const char *op_json, size_t op_len,
                     const char *cid, size_t cid_len, uint64_t cseq, uint32_t conn_idx, uint32_t conn_gen)
{
    size_t before = sc->fill.len;
    char *f = malloc(from_len ? from_len : 1), *o = malloc(op_len ? op_len : 1);
    if (!f || !o || !store_encode_op_cid(&sc->fill, sr->name, sr->name_len, rev, ts, from, from_len, op_json, op_len,
                                         cid, cid_len, cseq)) {
        free(f);
        free(o);
        return false;
    }
    memcpy(f, from, from_len);
    memcpy(o, op_json, op_len);
    size_t op_end = sc->appended + (sc->fill.len - before);
    if (!push_waiter(sc, (struct waiter){ op_end, sr, rev, conn_idx, conn_gen, false }) ||
        !sroom_push_op(sr, rev, ts, f, (uint32_t)from_len, o, (uint32_t)op_len)) {
        /* the op is applied to the doc already: it must be written; drop the waiter only */
        free(f);
        free(o);
        log_warn("op log: out of memory tracking op %s@%" PRIu64, sr->name, rev);
    }
    cid_note(sr, cid, cid_len, cseq, rev);
    if (rev - sr->snap_rev >= sc->st->cfg.snapshot_every) {
        const ot_text *t = doc_text(sr->doc);
        if (t->bytes > STORE_MAX_RECORD - 1024)
            log_warn("op log: room %s: document too large for a snapshot record; recovery replays its ops", sr->name);
        else
            store_encode_snapshot(&sc->fill, sr->name, sr->name_len, rev, sr->chat_seq, t->utf8 ? t->utf8 : "", t->bytes);
        sr->snap_rev = rev;        /* tried: next one in --snapshot-every ops */
    }
    fill_appended(sc, before);
    return true;
}

bool store_wait_durable(struct store_core *sc, struct store_room *sr, uint64_t rev, uint32_t conn_idx,
                        uint32_t conn_gen)
{
    /* everything appended so far covers rev's record; waiters are released in order of end */
    return push_waiter(sc, (struct waiter){ sc->appended, sr, rev, conn_idx, conn_gen, true });
}

bool store_append_chat(struct store_core *sc, struct store_room *sr, uint64_t seq, uint64_t ts,
                       const char *json, size_t len)
{
    if (store_core_unavailable(sc)) return false;
    size_t before = sc->fill.len;
    if (!store_encode_chat(&sc->fill, sr->name, sr->name_len, seq, ts, json, len)) return false;
    if (!sroom_push_chat(sr, sc->st->cfg.chat_history, seq, ts, json, len)) {
        sc->fill.len = before;
        return false;
    }
    fill_appended(sc, before);
    return true;
}

enum store_element_put store_element_put(struct store_core *sc, struct store_room *sr, const char *id, size_t id_len,
                                         int64_t version, int64_t nonce, const char *json, size_t len,
                                         uint32_t max_elements)
{
    enum store_element_put r = element_merge(sr, id, id_len, version, nonce, json, len, max_elements);
    if (r != STORE_ELEMENT_WON || store_core_unavailable(sc)) return r;
    size_t before = sc->fill.len;
    if (store_encode_element(&sc->fill, sr->name, sr->name_len, id, id_len, version, nonce, json, len))
        fill_appended(sc, before);
    else
        log_warn("op log: room %s: element not logged (out of memory or too large for a record)", sr->name);
    return r;
}

void store_core_attach(struct store_core *sc, struct core *co, store_durable_fn on_durable)
{
    sc->co = co;
    sc->on_durable = on_durable;
}

struct store_core *store_core_of(struct store *st, uint32_t core) { return &st->cores[core]; }
bool store_degraded(const struct store *st) { return st && atomic_load(&((struct store *)st)->degraded) > 0; }

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
static int build_room(struct store *st, struct rroom *rm, char *err, size_t errlen)
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
        return 3;
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
            return 3;
        }
        int rc = ot_op_parse(&op, (const char *)o->json, o->json_len);
        if (rc == OT_OK) rc = doc_receive(sr->doc, (int64_t)cur, &op);
        if (rc != OT_OK) {
            snprintf(err, errlen, "room %s: stored op rev %" PRIu64 " does not apply to the document (%s)", rm->name,
                     o->rev, rc == DOC_ETOOBIG ? "over --max-doc-bytes" : "bad op");
            ot_op_free(&op);
            sroom_free(sr);
            return 3;
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
    return 0;
oom:
    snprintf(err, errlen, "out of memory rebuilding room %s", rm->name);
    return 1;
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

static int build_rooms(struct store *st, struct recovery *rc, size_t *nrooms, char *err, size_t errlen)
{
    int code = 0;
    for (uint32_t b = 0; b < rc->nbuckets && !code; b++)
        for (struct rroom *r = rc->buckets[b]; r && !code; r = r->next) {
            code = build_room(st, r, err, errlen);
            (*nrooms)++;
        }
    return code;
}

/* --store mongodb://: the rooms come from MongoDB as records (mongo.h), built like the log's. */
static int recover_mongo(struct store *st, char *err, size_t errlen)
{
    struct store_buf img = { 0 };
    if (mongo_store_load(st->mongo, st->cfg.history_window, st->cfg.chat_history, &img, err, errlen)) {
        store_buf_free(&img);
        return 1;
    }
    struct recovery rc = { .nbuckets = 4096 };
    rc.buckets = calloc(rc.nbuckets, sizeof *rc.buckets);
    int code = rc.buckets ? 0 : 1;
    size_t valid, n, nrooms = 0;
    const char *why;
    if (!code && (store_scan(img.p, img.len, &valid, &n, &why, on_record, &rc) != STORE_SCAN_OK || rc.bad)) {
        snprintf(err, errlen, "mongodb: a stored document does not make a valid record");
        code = 1;
    }
    if (!code) code = build_rooms(st, &rc, &nrooms, err, errlen);
    if (!code) log_info("mongodb: %zu rooms ready from %zu documents", nrooms, n);
    recovery_free(&rc);
    store_buf_free(&img);
    return code;
}

static int recover(struct store *st, char *err, size_t errlen)
{
    const struct config *cfg = &st->cfg;
    struct recovery rc = { .nbuckets = 4096 };
    rc.buckets = calloc(rc.nbuckets, sizeof *rc.buckets);
    if (!rc.buckets) return 1;
    int dfd = dup(st->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        snprintf(err, errlen, "--data-dir %s: %s", cfg->data_dir, strerror(errno));
        if (dfd >= 0) close(dfd);
        recovery_free(&rc);
        return 1;
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
            return 1;
        }
        nnames++;
    }
    closedir(d);
    if (nnames) qsort(names, nnames, sizeof *names, cmp_name);
    atomic_store(&st->next_seg, max_seq + 1);
    int code = 0;
    size_t total_records = 0, total_bytes = 0, nonempty = 0;
    for (size_t i = 0; i < nnames && !code; i++) {
        uint8_t *img = NULL;
        size_t len = 0;
        int r = read_whole(st->dirfd, names[i], &img, &len);
        if (r) {
            snprintf(err, errlen, "--data-dir %s: reading %s: %s", cfg->data_dir, names[i], strerror(-r));
            code = 1;
            break;
        }
        if (len == 0) {                       /* a run that never wrote: nothing to keep */
            free(img);
            unlinkat(st->dirfd, names[i], 0);
            continue;
        }
        nonempty++;
        if (!GROW(rc.images, rc.nimages, rc.images_cap)) { free(img); code = 1; snprintf(err, errlen, "out of memory"); break; }
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
                code = 1;
            }
        } else if (s == STORE_SCAN_CORRUPT) {
            if (!cfg->recover_truncate) {
                snprintf(err, errlen, "--data-dir %s: segment %s is corrupt at offset %zu (%s) with %zu more bytes after it; "
                         "refusing to start. Restore the file, or start with --recover-truncate to cut the segment there "
                         "(dropping those bytes, which may hold acked ops)", cfg->data_dir, names[i], valid, why, len - valid);
                code = 3;
            } else {
                log_error("op log: %s: corrupt at offset %zu (%s): dropping the %zu bytes from there (--recover-truncate)",
                          names[i], valid, why, len - valid);
                if ((r = truncate_segment(st->dirfd, names[i], valid))) {
                    snprintf(err, errlen, "--data-dir %s: truncating %s: %s", cfg->data_dir, names[i], strerror(-r));
                    code = 1;
                }
            }
        }
        total_records += n;
        total_bytes += valid;
    }
    size_t nrooms = 0;
    if (!code) code = build_rooms(st, &rc, &nrooms, err, errlen);
    if (!code)
        log_info("op log: recovered %zu rooms from %zu records (%zu bytes) in %s", nrooms, total_records, total_bytes,
                 cfg->data_dir);
    recovery_free(&rc);
    /* what is left on disk from before this start: removed once every core has checkpointed */
    char compacted[32];
    if (!code && nonempty > 1 && total_bytes > cfg->segment_bytes && checkpoint(st, names, nnames, total_bytes, compacted))
        names_push(&st->startup, compacted);
    else
        for (size_t i = 0; i < nnames && !code; i++) names_push(&st->startup, names[i]);
    for (size_t i = 0; i < nnames; i++) free(names[i]);
    free(names);
    return code;
}

int store_open(struct store **out, const struct config *cfg, uint32_t ncores, char *err, size_t errlen)
{
    *out = NULL;
    store_crc32c_init();
    struct store *st = calloc(1, sizeof *st);
    if (!st) return 1;
    st->cfg = *cfg;
    st->ncores = ncores;
    st->dirfd = st->lockfd = -1;
    st->cores = calloc(ncores, sizeof *st->cores);
    if (!st->cores) { free(st); return 1; }
    for (uint32_t i = 0; i < ncores; i++) {
        struct store_core *sc = &st->cores[i];
        sc->st = st;
        sc->id = i;
        sc->fd = -1;
        sc->nbuckets = 256;
        sc->buckets = calloc(sc->nbuckets, sizeof *sc->buckets);
        if (!sc->buckets) { store_close(st); return 1; }
    }
    int code = 1;
    if (strcmp(cfg->store, "embedded")) {
        if (mongo_store_open(&st->mongo, cfg->store, ncores, err, errlen) || (code = recover_mongo(st, err, errlen)))
            goto fail;
        for (uint32_t i = 0; i < ncores; i++) st->cores[i].mw = mongo_store_writer(st->mongo, i);
        *out = st;
        return 0;
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
    if ((code = recover(st, err, errlen))) goto fail;
    code = 1;
    for (uint32_t i = 0; i < ncores; i++) {
        if ((st->cores[i].fd = open_segment(st, st->cores[i].seg_name, err, errlen)) < 0) goto fail;
        if (st->cores[i].count == 0) {          /* none of its rooms is in the old segments */
            st->cores[i].checkpointed = true;
            atomic_fetch_add(&st->cores_checkpointed, 1);
        }
    }
    *out = st;
    return 0;
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
