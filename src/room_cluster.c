/* room_cluster.c: the core's rooms shared through Redis (see room_cluster.h).
 *
 * A room's life on a core with --redis: the first member subscribes it (room.c); once the
 * channel is confirmed (on_subscribed) its state is read (bus_state: head revision, every
 * instance's participants, elements), the ops it lacks are read from the room's log
 * (bus_fetch) and applied, and then it is caught up: `joined` goes to the members that waited
 * and ops are committed. From then on the channel brings every change in order. When the link
 * drops, every room starts that sequence again once it is back (gaps are read from the log),
 * so nothing published meanwhile is missed.
 */
#include "room_cluster.h"

#include "app.h"
#include "cluster/bus.h"
#include "log.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define FETCH_BATCH 512          /* ops per read of a room's log */
#define MAX_PENDING_OPS 4096     /* ops waiting for their commit, per room */
#define SEED_OPS 1000           /* ops put back in a room's log when Redis lost it */
#define FOLLOW_MS 30000          /* a room opened for an HTTP reader is followed this long */

static const struct conn_ref no_sender = { UINT32_MAX, 0 };

/* ---- pending ops ---- */

/* Removes the op *pp points at (keeping the queue's tail right) and frees it. */
static void unlink_op(struct room *rm, struct pending_op **pp)
{
    struct pending_op *p = *pp;
    *pp = p->next;
    if (rm->ops_tail == p) {
        rm->ops_tail = NULL;
        for (struct pending_op *t = rm->ops; t; t = t->next) rm->ops_tail = t;
    }
    rm->nops--;
    ot_op_free(&p->op);
    free(p);
}

static void pop_op(struct room *rm) { unlink_op(rm, &rm->ops); }

static void op_error(struct app *app, struct conn_ref sender, enum err_code e, const char *msg)
{
    struct conn *c = conn_deref(app->cc, sender);
    if (!c) return;
    wire_write_error(&app->out, e, msg, MSG_OP);
    if (app->out.oom) return;
    stat_add(&app->co->stats.errors[e], 1);
    conn_send_frame(app->cc, c, WS_OP_TEXT, app->out.buf, app->out.len);
}

static enum err_code doc_error(int rc)
{
    switch (rc) {
    case DOC_EBADOP: return ERR_BAD_OP;
    case DOC_EREV_FUTURE: return ERR_REV_FUTURE;
    case DOC_EREV_TOO_OLD: return ERR_REV_TOO_OLD;
    case DOC_ETOOBIG: return ERR_TOO_LARGE;
    default: return ERR_INTERNAL;
    }
}

/* The room's copy here can no longer follow Redis: the ops it lacks are not in Redis's log
 * (Redis lost them, and the instance that put the room back did not have them either). */
static void broken(struct app *app, struct room *rm, const char *why)
{
    (void)app;
    if (rm->broken) return;
    rm->broken = true;
    log_error("room %s: this instance's copy (rev %llu) cannot follow Redis (head %llu): %s; its ops are refused "
              "(store-conflict) until the instance restarts", rm->name, (unsigned long long)doc_rev(rm->doc),
              (unsigned long long)rm->redis_head, why);
}

static void fetch(struct app *app, struct room *rm)
{
    if (!rm->fetching && !rm->broken && bus_fetch(app->bus, rm->name, rm->name_len, doc_rev(rm->doc) + 1, FETCH_BATCH))
        rm->fetching = true;
}

/* The ack of an op committed before (a resubmission): once this instance has it durably. */
static void ack_committed(struct app *app, struct room *rm, struct conn_ref sender, uint64_t rev)
{
    struct conn *c = conn_deref(app->cc, sender);
    struct session *s = c ? conn_user(c) : NULL;
    if (!s || s->room != rm) return;
    if (rev <= store_room_durable_rev(rm->sr)) room_send_ack(app, &app->out, s, rev);
    else if (!store_wait_durable(app->store, rm->sr, rev, sender.idx, sender.gen))
        op_error(app, sender, ERR_INTERNAL, "out of memory");
}

static bool same_cid(const struct pending_op *a, const struct pending_op *b)
{
    return a->cid_len == b->cid_len && !memcmp(a->cid, b->cid, a->cid_len);
}

/* Picks the ops for the next commit from the head of the queue (at most ROOM_COMMIT_BATCH):
 * each rebased on the document's head (p->op, kept for a retry), then transformed past the
 * ones before it in the commit (app->rooms->batch[i], what is sent), and applied in turn to a
 * scratch text to check that it applies and stays under --max-doc-bytes. An op that cannot be
 * rebased is refused to its sender and dropped; the commit stops before an op that does not
 * fit after the others (it goes first next time) or repeats a cid of the commit. */
static uint32_t pick_batch(struct app *app, struct room *rm, struct pending_op **picked)
{
    struct rooms *r = app->rooms;
    const ot_text *text = doc_text(rm->doc);
    uint64_t head = doc_rev(rm->doc);
    uint32_t n = 0;
    for (struct pending_op **pp = &rm->ops; *pp && n < ROOM_COMMIT_BATCH;) {
        struct pending_op *q = *pp;
        bool repeat = false;
        for (uint32_t j = 0; j < n && !repeat; j++) repeat = same_cid(picked[j], q);
        if (q->dup_rev || q->committed_rev || q->token || repeat) break;
        int rc = doc_rebase(rm->doc, (int64_t)q->base_rev, &q->op);
        if (rc != DOC_OK) {
            enum err_code e = doc_error(rc);
            op_error(app, q->sender, e, e == ERR_REV_TOO_OLD ? "the op is based on a revision older than --ot-window: re-join"
                                                              : "the op does not apply to the document");
            unlink_op(rm, pp);
            continue;
        }
        q->base_rev = head;
        ot_op *b = &r->batch[n];
        bool ok = ot_op_copy(b, &q->op) == OT_OK;
        for (uint32_t j = 0; ok && j < n; j++) {
            ok = ot_transform(b, &r->batch[j], &r->batch_tmp, NULL) == OT_OK;
            if (ok) ot_op_swap(b, &r->batch_tmp);
        }
        ot_text *out = &r->batch_text[n & 1];
        if (ok) ok = ot_apply(b, text, out) == OT_OK && out->bytes <= app->cfg->max_doc_bytes;
        if (!ok) {
            if (n) break;
            op_error(app, q->sender, ERR_INTERNAL, "out of memory");
            unlink_op(rm, pp);
            continue;
        }
        text = out;
        q->batch_idx = n;
        picked[n++] = q;
        pp = &q->next;
    }
    return n;
}

/* Sends the next commit if none is in flight and the room is caught up: the queue's head ops
 * in one script (one Redis round trip, one AOF write for all of them). Ops committed already
 * wait at the head until they come back on the channel (apply_op acks them). */
static void pump(struct app *app, struct room *rm)
{
    while (rm->ops && !rm->ops->token && rm->caught_up && !rm->fetching && bus_up(app->bus)) {
        struct pending_op *p = rm->ops;
        uint64_t known = p->dup_rev ? p->dup_rev : p->committed_rev;
        if (known) {
            if (doc_rev(rm->doc) < known) return;       /* on its way on the channel */
            ack_committed(app, rm, p->sender, known);     /* a resubmission of an applied op */
            pop_op(rm);
            continue;
        }
        struct pending_op *picked[ROOM_COMMIT_BATCH];
        uint32_t n = pick_batch(app, rm, picked);
        if (!n) continue;
        jw *w = &app->out;
        jw_reset(w);
        size_t off[ROOM_COMMIT_BATCH + 1];
        for (uint32_t i = 0; i < n; i++) {
            off[i] = w->len;
            ot_op_to_json(&app->rooms->batch[i], w);
        }
        off[n] = w->len;
        if (w->oom) return;
        struct bus_commit_op cops[ROOM_COMMIT_BATCH];
        for (uint32_t i = 0; i < n; i++)
            cops[i] = (struct bus_commit_op){ .op = w->buf + off[i], .op_len = off[i + 1] - off[i], .from = picked[i]->from,
                                              .cid = picked[i]->cid, .cid_len = picked[i]->cid_len,
                                              .cseq = picked[i]->cseq };
        uint64_t token = ++app->rooms->next_token;
        if (!bus_commit(app->bus, rm->name, rm->name_len, token, doc_rev(rm->doc), clock_unix_ms(), n, cops))
            return;                      /* tried again when the link is back (or the tick refuses it) */
        for (uint32_t i = 0; i < n; i++) {
            picked[i]->token = token;
            picked[i]->sent = true;
        }
        return;
    }
}

enum err_code room_cluster_op(struct app *app, struct session *s, int64_t base_rev, ot_op *op, const char *cid,
                              size_t cid_len, uint64_t cseq)
{
    struct room *rm = s->room;
    if (!rm || s->awaiting_joined || !s->conn) return ERR_NOT_JOINED;
    if (rm->broken) return ERR_STORE_CONFLICT;
    if (!bus_up(app->bus) || rm->nops >= MAX_PENDING_OPS) return ERR_CLUSTER_UNAVAILABLE;
    if (store_core_unavailable(app->store)) return ERR_STORE_UNAVAILABLE;
    if (base_rev < 0 || (uint64_t)base_rev > doc_rev(rm->doc)) return ERR_REV_FUTURE;
    struct pending_op *p = calloc(1, sizeof *p);
    if (!p) return ERR_INTERNAL;
    ot_op_init(&p->op);
    ot_op_swap(&p->op, op);
    p->sender = conn_ref_of(app->cc, s->conn);
    p->base_rev = (uint64_t)base_rev;
    if (cid_len) {                       /* "c" + the client's: never one of the servers' "~..." */
        p->cid[0] = 'c';
        memcpy(p->cid + 1, cid, cid_len);
        p->cid_len = cid_len + 1;
        p->cseq = cseq;
    } else {
        /* every commit carries a (cid, cseq): a retry after a lost reply is then recognised */
        p->cid_len = (size_t)snprintf(p->cid, sizeof p->cid, "~%s-%x", app->instance, (unsigned)app->co->id);
        p->cseq = ++app->rooms->own_cseq;
    }
    snprintf(p->from, sizeof p->from, "%s", s->id);
    p->queued_ms = app->co->now_ms;
    if (rm->ops_tail) rm->ops_tail->next = p;
    else rm->ops = p;
    rm->ops_tail = p;
    rm->nops++;
    pump(app, rm);
    return ERR_NONE;
}

/* ---- what Redis sends ---- */

/* An op of the room's log, in revision order: applied, logged, and acked (if it is the
 * first pending op) and broadcast once durable (room_op_durable). */
static void apply_op(struct app *app, struct room *rm, const struct bus_event *ev)
{
    uint64_t cur = doc_rev(rm->doc);
    if (ev->rev <= cur) return;                      /* had it (from the log, or the channel) */
    if (ev->rev > cur + 1) {                         /* missed some: read them from the log */
        fetch(app, rm);
        return;
    }
    ot_op *op = &app->rooms->scratch;
    int rc = ot_op_parse(op, ev->body, ev->body_len) == OT_OK ? doc_receive(rm->doc, (int64_t)cur, op) : DOC_EBADOP;
    if (rc != DOC_OK) {
        broken(app, rm, "an op from Redis does not apply to it");
        return;
    }
    struct conn_ref sender = no_sender;
    struct pending_op *p = rm->ops;
    if (p && p->cid_len == ev->cid_len && !memcmp(p->cid, ev->cid, ev->cid_len) && p->cseq == ev->cseq) {
        sender = p->sender;                          /* ours: acked when durable */
        pop_op(rm);
    }
    stat_add(&app->co->stats.ot_ops, 1);
    /* the op log keeps the client's own cid (without its "c"); the servers' are not kept */
    bool client_cid = ev->cid_len > 1 && ev->cid[0] == 'c' && ev->cid_len - 1 <= STORE_CID_MAX;
    if (!store_append_op(app->store, rm->sr, ev->rev, ev->ts, ev->from, ev->from_len, ev->body, ev->body_len,
                         client_cid ? ev->cid + 1 : NULL, client_cid ? ev->cid_len - 1 : 0, ev->cseq, sender.idx,
                         sender.gen))
        log_error("room %s: out of memory logging op rev %llu", rm->name, (unsigned long long)ev->rev);
}

/* The room is caught up with Redis: members waiting get `joined`, ops may be committed. */
static void caught_up(struct app *app, struct room *rm)
{
    rm->caught_up = true;
    rm->synced = true;
    for (uint32_t i = 0; i < rm->nmembers; i++) {
        struct session *s = rm->members[i];
        if (!s->awaiting_joined) continue;
        room_send_joined(app, &app->out, rm, s);
        bus_presence_join(app->bus, rm->name, rm->name_len, s->id, s->participant, s->participant_len,
                          app->cfg->presence_ttl_ms);
    }
    struct room_waiter *wt = rm->waiters;
    rm->waiters = NULL;
    while (wt) {
        struct room_waiter *next = wt->next;
        wt->fn(app, wt->ctx, rm);
        free(wt);
        wt = next;
    }
    pump(app, rm);
}

void room_cluster_when_current(struct app *app, const char *name, size_t len, room_wait_fn fn, void *ctx)
{
    struct room *rm = room_lookup(app, name, len);
    if (!rm && bus_up(app->bus) && room_open(app, name, len, &rm) != ERR_NONE) rm = NULL;
    if (!rm || !bus_up(app->bus)) return fn(app, ctx, NULL);
    if (rm->nmembers == 0) rm->follow_until_ms = app->co->now_ms + FOLLOW_MS;
    if (rm->caught_up) return fn(app, ctx, rm);
    struct room_waiter *wt = malloc(sizeof *wt);
    if (!wt) return fn(app, ctx, NULL);
    *wt = (struct room_waiter){ rm->waiters, fn, ctx };
    rm->waiters = wt;
}

static void write_presence(jw *w, const char *event, const char *participant, size_t len)
{
    jw_reset(w);
    jw_lit(w, "{\"type\":\"presence\",\"event\":\"");
    jw_lit(w, event);
    jw_lit(w, "\",\"participant\":");
    jw_raw(w, participant, len);
    jw_char(w, '}');
}

static int remote_find(const struct room *rm, const char *id, size_t len)
{
    for (uint32_t i = 0; i < rm->nremote; i++)
        if (strlen(rm->remote[i].id) == len && !memcmp(rm->remote[i].id, id, len)) return (int)i;
    return -1;
}

static bool remote_add(struct room *rm, const char *id, size_t id_len, const char *json, size_t len)
{
    if (id_len >= PARTICIPANT_ID_MAX) return false;
    if (rm->nremote == rm->remote_cap) {
        uint32_t cap = rm->remote_cap ? rm->remote_cap * 2 : 8;
        struct remote_participant *r = realloc(rm->remote, cap * sizeof *r);
        if (!r) return false;
        rm->remote = r;
        rm->remote_cap = cap;
    }
    struct remote_participant *r = &rm->remote[rm->nremote];
    if (!(r->json = malloc(len))) return false;
    memcpy(r->json, json, len);
    r->len = len;
    memcpy(r->id, id, id_len);
    r->id[id_len] = '\0';
    rm->nremote++;
    return true;
}

static void remote_remove(struct room *rm, uint32_t i)
{
    free(rm->remote[i].json);
    rm->remote[i] = rm->remote[--rm->nremote];
}

/* The participant id of a participant object, which write_participant starts with {"id":"... */
static bool participant_id(const char *json, size_t len, const char **id, size_t *id_len)
{
    static const char lead[] = "{\"id\":\"";
    if (len < sizeof lead || memcmp(json, lead, sizeof lead - 1) != 0) return false;
    const char *s = json + sizeof lead - 1, *e = memchr(s, '"', len - (sizeof lead - 1));
    if (!e) return false;
    *id = s;
    *id_len = (size_t)(e - s);
    return true;
}

static void on_presence(struct app *app, struct room *rm, const struct bus_event *ev)
{
    struct session *local = room_member(rm, ev->from, ev->from_len);
    int at = remote_find(rm, ev->from, ev->from_len);
    jw *w = &app->out;
    if (ev->kind == BUS_JOIN) {
        if (local) {
            if (local->announced) return;
            local->announced = true;
        } else if (at >= 0 || !remote_add(rm, ev->from, ev->from_len, ev->body, ev->body_len)) {
            return;
        }
        write_presence(w, "joined", ev->body, ev->body_len);
    } else {
        if (local) {                     /* its heartbeat was late: the next one announces it again */
            local->announced = false;
            return;
        }
        if (at < 0) return;
        remote_remove(rm, (uint32_t)at);
        write_presence(w, "left", ev->body, ev->body_len);
    }
    room_broadcast(app, w, rm, local, MSG_PRESENCE, 0);
}

static void on_event(void *arg, const struct bus_event *ev)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, ev->room, ev->room_len);
    if (!rm) return;
    jw *w = &app->out;
    switch (ev->kind) {
    case BUS_OP:
        apply_op(app, rm, ev);
        pump(app, rm);
        return;
    case BUS_CHAT:
        store_room_note_chat_seq(rm->sr, ev->seq);
        if (!store_append_chat(app->store, rm->sr, ev->seq, ev->ts, ev->body, ev->body_len))
            store_room_keep_chat(app->store, rm->sr, ev->seq, ev->ts, ev->body, ev->body_len);
        jw_reset(w);
        jw_raw(w, ev->body, ev->body_len);
        room_broadcast(app, w, rm, NULL, MSG_CHAT, 0);
        return;
    case BUS_JOIN:
    case BUS_LEAVE:
        on_presence(app, rm, ev);
        return;
    case BUS_CURSOR:
        jw_reset(w);
        jw_raw(w, ev->body, ev->body_len);
        room_broadcast(app, w, rm, room_member(rm, ev->from, ev->from_len), MSG_CURSOR, 0);
        return;
    case BUS_ELEMENT:
        /* Redis decided the winner; this copy follows it (a stale local element loses) */
        store_element_put(app->store, rm->sr, ev->id, ev->id_len, ev->version, ev->nonce, ev->body, ev->body_len,
                          UINT32_MAX);
        jw_reset(w);
        jw_lit(w, "{\"type\":\"element\",\"element\":");
        jw_raw(w, ev->body, ev->body_len);
        jw_lit(w, ",\"from\":");
        jw_str(w, ev->from, ev->from_len);
        jw_char(w, '}');
        room_broadcast(app, w, rm, room_member(rm, ev->from, ev->from_len), MSG_ELEMENT, 0);
        return;
    }
}

/* Reads the room's state from Redis (on_state), noting the copy's revision at the time. */
static void ask_state(struct app *app, struct room *rm)
{
    rm->state_asked_rev = doc_rev(rm->doc);
    bus_state(app->bus, rm->name, rm->name_len);
}

static void on_subscribed(void *arg, const char *room, size_t len)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, room, len);
    if (!rm) {                           /* emptied while subscribing */
        bus_unsubscribe(app->bus, room, len);
        return;
    }
    if (!rm->subscribed) stat_add(&app->co->stats.redis_rooms, 1);
    rm->subscribed = true;
    ask_state(app, rm);
}

/* Participants of other instances, as Redis has them: the difference with what the room had
 * is announced to the members (a reconnection may have missed arrivals and departures). */
static void set_remote(struct app *app, struct room *rm, const struct bus_state *st)
{
    jw *w = &app->out;
    for (uint32_t i = 0; i < rm->nremote;) {
        bool still = false;
        for (uint32_t j = 0; j < st->nparticipants && !still; j++) {
            const char *id;
            size_t n;
            still = participant_id(st->participants[j], st->participant_lens[j], &id, &n) &&
                    strlen(rm->remote[i].id) == n && !memcmp(rm->remote[i].id, id, n);
        }
        if (still) {
            i++;
            continue;
        }
        write_presence(w, "left", rm->remote[i].json, rm->remote[i].len);
        room_broadcast(app, w, rm, NULL, MSG_PRESENCE, 0);
        remote_remove(rm, i);
    }
    for (uint32_t j = 0; j < st->nparticipants; j++) {
        const char *id;
        size_t n;
        if (!participant_id(st->participants[j], st->participant_lens[j], &id, &n) || room_member(rm, id, n) ||
            remote_find(rm, id, n) >= 0 || !remote_add(rm, id, n, st->participants[j], st->participant_lens[j]))
            continue;
        write_presence(w, "joined", st->participants[j], st->participant_lens[j]);
        room_broadcast(app, w, rm, NULL, MSG_PRESENCE, 0);
    }
}

/* Redis is behind this instance's copy of the room: it lost data (restarted without AOF, or
 * flushed). The copy here is durable (the op log), so it goes back to Redis: head, chat seq
 * and the last SEED_OPS ops, unless an instance further ahead did it first. The state is then
 * read again. Ops committed between two instances' seeds can be lost: docs/operations.md. */
static void reseed(struct app *app, struct room *rm, uint64_t head)
{
    uint64_t cur = doc_rev(rm->doc), from = cur > SEED_OPS ? cur - SEED_OPS + 1 : 1;
    if (from < store_room_oldest_op(rm->sr)) from = store_room_oldest_op(rm->sr);
    log_warn("room %s: Redis has revision %llu, this instance %llu: Redis lost data; putting this instance's "
             "copy back (run Redis with appendonly yes)", rm->name, (unsigned long long)head, (unsigned long long)cur);
    uint32_t n = 0;
    struct bus_event *ops = calloc(cur - from + 1, sizeof *ops);
    for (uint64_t r = from; ops && r <= cur; r++) {
        const struct store_op *o = store_room_op(rm->sr, r);
        if (!o) continue;
        ops[n++] = (struct bus_event){ .rev = o->rev, .ts = o->ts, .body = o->op, .body_len = o->op_len,
                                       .from = o->from, .from_len = o->from_len };
    }
    if (!ops || !bus_seed(app->bus, rm->name, rm->name_len, cur, store_room_chat_seq(rm->sr), n, ops))
        log_error("room %s: cannot put it back in Redis now; retried when the link comes back", rm->name);
    free(ops);
}

static void on_seeded(void *arg, const char *room, size_t len, bool ok, uint64_t head)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, room, len);
    (void)head;
    if (rm && ok) ask_state(app, rm);                    /* caught up from there */
}

static void on_state(void *arg, const char *room, size_t len, bool ok, const struct bus_state *st)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, room, len);
    if (!rm || !ok) return;              /* a failed read starts over when the link is back */
    set_remote(app, rm, st);
    for (uint32_t i = 0; i < st->nelements; i++) {
        const struct bus_element_state *e = &st->elements[i];
        store_element_put(app->store, rm->sr, e->id, e->id_len, e->version, e->nonce, e->json, e->json_len, UINT32_MAX);
    }
    rm->stated = true;
    if (st->head > rm->redis_head) rm->redis_head = st->head;
    uint64_t cur = doc_rev(rm->doc);
    if (st->head > cur) {
        fetch(app, rm);
        return;
    }
    /* the channel may have brought ops past the head the state saw: only a head behind what
     * this copy had when it asked means that Redis lost ops */
    if (st->head < rm->state_asked_rev) reseed(app, rm, st->head);
    else caught_up(app, rm);
}

static void on_fetch(void *arg, const char *room, size_t len, bool ok, const struct bus_event *ops, uint32_t n)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, room, len);
    if (!rm) return;
    rm->fetching = false;
    if (!ok) return;
    uint64_t before = doc_rev(rm->doc);
    if ((n && ops[0].rev > before + 1) || (!n && before < rm->redis_head)) {
        broken(app, rm, "its log in Redis lacks the ops after this revision");
        return;
    }
    for (uint32_t i = 0; i < n; i++) apply_op(app, rm, &ops[i]);
    stat_add(&app->co->stats.redis_catchup_ops, doc_rev(rm->doc) - before);
    if (n == FETCH_BATCH) fetch(app, rm);
    else if (rm->stated && !rm->caught_up) caught_up(app, rm);
    else pump(app, rm);
}

static void on_commit(void *arg, const char *room, size_t len, uint64_t token, enum bus_commit_result r, uint64_t rev,
                      uint32_t index)
{
    struct app *app = arg;
    struct room *rm = room_lookup(app, room, len);
    struct pending_op *p = rm ? rm->ops : NULL;
    if (!p || p->token != token) return;             /* resolved already (its ops came on the channel) */
    /* the commit's ops are the first ones of the queue that carry its token */
    uint32_t n = 0;
    for (struct pending_op *q = p; q && q->token == token; q = q->next, n++) {
        q->token = 0;
        if (r == BUS_COMMITTED) q->committed_rev = rev + q->batch_idx;   /* applied as they come on the channel */
        else if (r == BUS_DUPLICATE && q->batch_idx == index) q->dup_rev = rev;
    }
    switch (r) {
    case BUS_COMMITTED:
    case BUS_DUPLICATE:
        pump(app, rm);
        return;
    case BUS_CONFLICT:
        stat_add(&app->co->stats.redis_conflicts, 1);
        if (rev > rm->redis_head) rm->redis_head = rev;
        /* rev is the head when the script ran; the channel may have brought this copy past it
         * since. Only a head behind the revision the commit expected means that Redis lost ops */
        if (rev < p->base_rev) reseed(app, rm, rev);
        else if (rev > doc_rev(rm->doc)) fetch(app, rm);  /* the ops it missed, then rebase and retry */
        else pump(app, rm);
        return;
    case BUS_FAILED:
        for (uint32_t i = 0; i < n; i++) {
            op_error(app, rm->ops->sender, ERR_INTERNAL, "Redis refused the commit (see the server log)");
            pop_op(rm);
        }
        pump(app, rm);
        return;
    case BUS_LINK_LOST:
        return;                          /* sent again, deduplicated by (cid, cseq), once the link is back */
    }
}

static void on_link(void *arg, bool up)
{
    struct app *app = arg;
    for (struct room *rm = app->rooms->live; rm; rm = rm->next) {
        if (rm->subscribed) stat_sub(&app->co->stats.redis_rooms, 1);
        rm->subscribed = rm->stated = rm->caught_up = rm->fetching = false;
        rm->redis_head = 0;              /* Redis may have restarted: what it says next counts */
        for (struct pending_op *p = rm->ops; p; p = p->next) p->token = 0;
        if (up) bus_subscribe(app->bus, rm->name, rm->name_len);
    }
}

struct bus_handler room_cluster_handler(struct app *app)
{
    return (struct bus_handler){ .arg = app, .on_link = on_link, .on_subscribed = on_subscribed,
                                 .on_event = on_event, .on_state = on_state, .on_fetch = on_fetch,
                                 .on_commit = on_commit, .on_seeded = on_seeded };
}

/* ---- time ---- */

static void beat(struct app *app, struct room *rm)
{
    const char *ids[64], *jsons[64];
    size_t lens[64];
    uint32_t n = 0;
    for (uint32_t i = 0; i < rm->nmembers; i++) {
        struct session *s = rm->members[i];
        if (s->awaiting_joined || !s->participant) continue;
        ids[n] = s->id;
        jsons[n] = s->participant;
        lens[n++] = s->participant_len;
        if (n == 64) {
            bus_presence_beat(app->bus, rm->name, rm->name_len, app->cfg->presence_ttl_ms, n, ids, jsons, lens);
            n = 0;
        }
    }
    /* with n == 0 it still removes the participants that expired */
    bus_presence_beat(app->bus, rm->name, rm->name_len, app->cfg->presence_ttl_ms, n, ids, jsons, lens);
}

void room_cluster_tick(struct app *app)
{
    uint64_t now = app->co->now_ms, every = app->cfg->presence_ttl_ms / 3;
    for (struct room *rm = app->rooms->live, *next; rm; rm = next) {
        next = rm->next;
        if (rm->nmembers == 0 && now >= rm->follow_until_ms) {
            /* followed for HTTP readers, and nobody asked lately; a reader still waiting (the
             * room never caught up) is answered from this instance's copy */
            room_close(app, rm);
            continue;
        }
        if (bus_up(app->bus) && rm->caught_up && now - rm->beat_ms >= every) {
            rm->beat_ms = now;
            beat(app, rm);
        }
        if (bus_up(app->bus) && rm->caught_up) continue;
        /* Redis away: ops never sent are refused after --redis-timeout (one that was sent
         * waits: it may be committed, and its retry will tell) */
        for (struct pending_op **pp = &rm->ops; *pp;) {
            struct pending_op *p = *pp;
            if (p->sent || now - p->queued_ms < app->cfg->redis_timeout_ms) {
                pp = &p->next;
                continue;
            }
            op_error(app, p->sender, ERR_CLUSTER_UNAVAILABLE,
                     "the instances' shared Redis cannot be reached: this op is not applied; re-join the room and send it again");
            unlink_op(rm, pp);
        }
    }
}
