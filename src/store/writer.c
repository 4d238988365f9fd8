/* writer.c: the store's write path, per core (see store.h and docs/persistence.md): the
 * records a core appends, group commit, the waiters released when their records are durable,
 * segments and their rotation, online checkpoints and the removal of the segments they cover.
 * The MongoDB back end shares all of it; only where a batch goes differs.
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
 * core's rooms into a new segment and remove the segments that covers (at start-up,
 * recovery.c compacts a log of several segments into one).
 *
 * Everything here runs on the core's thread, but open_segment and names_push, which
 * store_open also calls on the main thread before the cores run. It calls the stored rooms
 * (rooms.c) and the codec (record.c); recovery.c calls it, never the other way round.
 */
#include "internal.h"

#include "core.h"
#include "log.h"
#include "mongo.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* What was appended (fill) becomes the batch to write (flight); fill starts empty. */
static void start_flight(struct store_core *sc)
{
    struct store_buf t = sc->flight;
    sc->flight = sc->fill;
    sc->fill = t;
    sc->fill.len = 0;
    sc->flight_written = 0;
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
    start_flight(sc);
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
        if (sc->on_durable) sc->on_durable(sc->durable_arg, wt.sr, wt.rev, wt.conn_idx, wt.conn_gen, out);
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
            if (!sc->flight.len) start_flight(sc);
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

void store_core_attach(struct store_core *sc, struct core *co, store_durable_fn on_durable, void *arg)
{
    sc->co = co;
    sc->on_durable = on_durable;
    sc->durable_arg = arg;
}

struct store_core *store_core_of(struct store *st, uint32_t core) { return &st->cores[core]; }
bool store_degraded(const struct store *st) { return st && atomic_load(&((struct store *)st)->degraded) > 0; }
