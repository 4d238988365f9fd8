/* room.c: rooms, membership, chat, presence, cursors, elements and the OT document of each
 * room, on its owning core (see room.h).
 *
 * Broadcasts are encoded once into a shared buffer holding the whole WebSocket frame and
 * queued on every member's connection by reference, so fan-out costs one JSON encoding and
 * one small queue entry per receiver.
 */
#include "room.h"

#include "app.h"
#include "cluster/bus.h"
#include "log.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rooms_init(struct app *app)
{
    struct rooms *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    ot_op_init(&r->scratch);
    app->rooms = r;
    return 0;
}

static void room_free(struct room *rm)
{
    free(rm->members);
    for (uint32_t i = 0; i < rm->nremote; i++) free(rm->remote[i].json);
    free(rm->remote);
    while (rm->ops) {
        struct pending_op *p = rm->ops;
        rm->ops = p->next;
        ot_op_free(&p->op);
        free(p);
    }
    if (rm->sr) store_room_set_live(rm->sr, NULL);
    free(rm);
}

static void session_free(struct session *s)
{
    free(s->participant);
    free(s->cursor);
    free(s);
}

void rooms_free(struct app *app)
{
    struct rooms *r = app->rooms;
    if (!r) return;
    /* Every session is on the dead list by now (the core detached the live ones). */
    while (r->dead) {
        struct session *s = r->dead;
        r->dead = s->dead_next;
        session_free(s);
    }
    while (r->live) {
        struct room *rm = r->live;
        r->live = rm->next;
        while (rm->waiters) {            /* the transport is gone: nobody left to answer */
            struct room_waiter *wt = rm->waiters;
            rm->waiters = wt->next;
            free(wt->ctx);
            free(wt);
        }
        room_free(rm);
    }
    ot_op_free(&r->scratch);
    free(r);
    app->rooms = NULL;
}

/* ---- lookup ---- */

/* A room in memory: every one has a stored room (its document and history) that points
 * back to it, so the store's table is the one index by name. */
struct room *room_lookup(struct app *app, const char *name, size_t len)
{
    struct store_room *sr = store_room_get(app->store, name, len, false);
    return sr ? store_room_live(sr) : NULL;
}

static enum err_code room_create(struct app *app, const char *name, size_t len, struct room **out)
{
    if (atomic_fetch_add_explicit(&app->shared->rooms, 1, memory_order_relaxed) >= app->cfg->max_rooms) {
        atomic_fetch_sub_explicit(&app->shared->rooms, 1, memory_order_relaxed);
        return ERR_TOO_MANY_ROOMS;
    }
    struct room *rm = calloc(1, sizeof *rm);
    /* the stored room (recovered from the log, or kept since the room was last in memory)
     * holds the document; a new name gets an empty one */
    if (rm) rm->sr = store_room_get(app->store, name, len, true);
    if (!rm || !rm->sr) {
        free(rm);
        atomic_fetch_sub_explicit(&app->shared->rooms, 1, memory_order_relaxed);
        return ERR_INTERNAL;
    }
    rm->doc = store_room_doc(rm->sr);
    store_room_set_live(rm->sr, rm);
    memcpy(rm->name, name, len);
    rm->name_len = len;
    struct rooms *r = app->rooms;
    rm->next = r->live;
    if (r->live) r->live->prev = rm;
    r->live = rm;
    stat_add(&app->co->stats.rooms, 1);
    *out = rm;
    return ERR_NONE;
}

static void room_destroy(struct app *app, struct room *rm)
{
    struct rooms *r = app->rooms;
    if (rm->prev) rm->prev->next = rm->next;
    else r->live = rm->next;
    if (rm->next) rm->next->prev = rm->prev;
    stat_sub(&app->co->stats.rooms, 1);
    atomic_fetch_sub_explicit(&app->shared->rooms, 1, memory_order_relaxed);
    room_free(rm);
}

enum err_code room_open(struct app *app, const char *name, size_t len, struct room **out)
{
    enum err_code e = room_create(app, name, len, out);
    if (e == ERR_NONE && app->bus) bus_subscribe(app->bus, name, len);
    return e;
}

void room_close(struct app *app, struct room *rm)
{
    while (rm->waiters) {
        struct room_waiter *wt = rm->waiters;
        rm->waiters = wt->next;
        wt->fn(app, wt->ctx, NULL);
        free(wt);
    }
    if (rm->subscribed) {                /* --redis: the core stops following the room */
        bus_unsubscribe(app->bus, rm->name, rm->name_len);
        stat_sub(&app->co->stats.redis_rooms, 1);
    }
    room_destroy(app, rm);
}

/* ---- output ---- */

/* w's JSON as one WebSocket text frame in a shared buffer (refs = 1), or NULL on ENOMEM. */
static struct obuf *frame_of(struct app *app, const jw *w)
{
    if (w->oom) return NULL;
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl = ws_frame_header(hdr, WS_OP_TEXT, true, w->len, NULL);
    struct obuf *b = obuf_new(&app->cc->pool, hl + w->len);
    if (!b) return NULL;
    memcpy(b->data, hdr, hl);
    memcpy(b->data + hl, w->buf, w->len);
    b->len = (uint32_t)(hl + w->len);
    return b;
}

void room_broadcast(struct app *app, const jw *w, struct room *rm, const struct session *except, enum msg_type type,
                    uint64_t rev)
{
    if (rm->nmembers == 0 || (rm->nmembers == 1 && rm->members[0] == except)) return;
    uint64_t t0 = clock_ns();
    struct obuf *f = frame_of(app, w);
    if (!f) {
        log_warn("out of memory encoding a %s broadcast", msg_type_names[type]);
        return;
    }
    uint64_t n = 0;
    for (uint32_t i = 0; i < rm->nmembers; i++) {
        struct session *m = rm->members[i];
        if (m == except || !m->conn || m->awaiting_joined || (rev && m->joined_rev >= rev)) continue;
        if (conn_send_shared(app->cc, m->conn, f)) n++;
    }
    obuf_unref(&app->cc->pool, f);
    stat_add(&app->co->stats.msgs_out[type], n);
    stat_add(&app->co->stats.broadcast_deliveries, n);
    hist_observe(&app->co->stats.broadcast, clock_ns() - t0);
}

static void broadcast(struct app *app, const jw *w, struct room *rm, const struct session *except,
                      enum msg_type type)
{
    room_broadcast(app, w, rm, except, type, 0);
}

void room_send(struct app *app, const jw *w, struct session *s, enum msg_type type)
{
    if (!s->conn || w->oom) return;
    if (conn_send_frame(app->cc, s->conn, WS_OP_TEXT, w->buf, w->len)) stat_add(&app->co->stats.msgs_out[type], 1);
}

/* ---- sessions ---- */

struct session *session_new(struct app *app)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    /* with --redis, ids are unique across instances too */
    if (app->bus)
        snprintf(s->id, sizeof s->id, "%s-%x-%llx", app->instance, (unsigned)app->co->id,
                 (unsigned long long)++app->rooms->next_participant);
    else
        snprintf(s->id, sizeof s->id, "%x-%llx", (unsigned)app->co->id, (unsigned long long)++app->rooms->next_participant);
    s->tokens_milli = (uint64_t)app->cfg->rate_limit * 1000;
    s->tokens_ms = app->co->now_ms;
    return s;
}

static void cursor_unlink(struct app *app, struct session *s)
{
    if (!s->cursor_pending) return;
    struct session **p = &app->rooms->cursors;
    while (*p && *p != s) p = &(*p)->cursor_next;
    if (*p) *p = s->cursor_next;
    s->cursor_pending = false;
    s->cursor_next = NULL;
}

void session_detach(struct app *app, struct session *s)
{
    if (s->dead) return;
    s->conn = NULL;
    s->dead = true;
    cursor_unlink(app, s);
    s->dead_next = app->rooms->dead;
    app->rooms->dead = s;
}

/* ---- membership ---- */

static void write_participant(struct app *app, struct session *s, const struct user_info *u, bool *ok)
{
    jw w;
    jw_init(&w, 128);
    jw_lit(&w, "{\"id\":");
    jw_str(&w, s->id, strlen(s->id));
    jw_lit(&w, ",\"user\":");
    jw_str(&w, u->id, u->id_len);
    jw_lit(&w, ",\"name\":");
    jw_str(&w, u->name, u->name_len);
    jw_lit(&w, ",\"color\":");
    jw_str(&w, u->color, u->color_len);
    jw_char(&w, '}');
    (void)app;
    if (w.oom) {
        jw_free(&w);
        *ok = false;
        return;
    }
    free(s->participant);
    s->participant = w.buf;              /* the writer's buffer becomes the session's copy */
    s->participant_len = w.len;
    *ok = true;
}

static void write_presence(jw *w, const struct session *s, const char *event)
{
    jw_reset(w);
    jw_lit(w, "{\"type\":\"presence\",\"event\":\"");
    jw_lit(w, event);
    jw_lit(w, "\",\"participant\":");
    jw_raw(w, s->participant, s->participant_len);
    jw_char(w, '}');
}

/* `,"rev":N,"doc":"...","participants":[...]`: what `joined` and GET /rooms share. A room
 * not in memory (rm NULL) has no participants. */
static void write_state(jw *w, const doc *d, const struct room *rm)
{
    const ot_text *t = doc_text(d);
    jw_lit(w, ",\"rev\":");
    jw_uint(w, doc_rev(d));
    jw_lit(w, ",\"doc\":");
    jw_str(w, t->utf8 ? t->utf8 : "", t->bytes);
    jw_lit(w, ",\"participants\":[");
    for (uint32_t i = 0; rm && i < rm->nmembers; i++) {
        if (i) jw_char(w, ',');
        jw_raw(w, rm->members[i]->participant, rm->members[i]->participant_len);
    }
    for (uint32_t i = 0; rm && i < rm->nremote; i++) {    /* --redis: on other instances */
        if (i || rm->nmembers) jw_char(w, ',');
        jw_raw(w, rm->remote[i].json, rm->remote[i].len);
    }
    jw_char(w, ']');
}

static void write_joined(jw *w, const struct room *rm, const struct session *s)
{
    jw_reset(w);
    jw_lit(w, "{\"type\":\"joined\",\"room\":");
    jw_str(w, rm->name, rm->name_len);
    jw_lit(w, ",\"self\":");
    jw_str(w, s->id, strlen(s->id));
    write_state(w, rm->doc, rm);
    jw_lit(w, ",\"elements\":[");
    bool first = true;
    for (uint32_t i = 0, n = store_room_element_slots(rm->sr); i < n; i++) {
        size_t elen;
        const char *e = store_room_element(rm->sr, i, &elen);
        if (!e) continue;
        if (!first) jw_char(w, ',');
        first = false;
        jw_raw(w, e, elen);
    }
    jw_lit(w, "],\"chat\":[");           /* the last --chat-history chat messages, oldest first */
    uint32_t nchat = store_room_chat_count(rm->sr);
    for (uint32_t i = 0; i < nchat; i++) {
        size_t len;
        const char *m = store_room_chat(rm->sr, i, &len);
        if (i) jw_char(w, ',');
        jw_raw(w, m, len);
    }
    jw_lit(w, "]}");
}

enum err_code room_join(struct app *app, jw *w, struct session *s, const char *name, size_t len, const struct user_info *u)
{
    if (!shard_name_valid(name, len)) return ERR_BAD_ROOM;
    struct room *rm = room_lookup(app, name, len);
    bool ok;
    if (rm && s->room == rm) {           /* re-join (after rev-too-old, say): a fresh `joined` */
        write_participant(app, s, u, &ok);
        if (!ok) return ERR_INTERNAL;
        if (!s->awaiting_joined) room_send_joined(app, w, rm, s);
        return ERR_NONE;
    }
    if (s->room) room_leave(app, w, s);      /* another room: rm is unaffected */
    if (rm && rm->nmembers >= app->cfg->max_room_members) return ERR_ROOM_FULL;
    /* --redis: a room this core does not follow yet needs Redis to learn its state */
    if (app->bus && !bus_up(app->bus) && (!rm || !rm->synced)) return ERR_CLUSTER_UNAVAILABLE;
    write_participant(app, s, u, &ok);
    if (!ok) return ERR_INTERNAL;
    if (!rm) {
        enum err_code e = room_create(app, name, len, &rm);
        if (e != ERR_NONE) return e;
    }
    if (rm->nmembers == rm->cap) {
        uint32_t cap = rm->cap ? rm->cap * 2 : 8;
        struct session **m = realloc(rm->members, cap * sizeof *m);
        if (!m) {
            if (rm->nmembers == 0) room_destroy(app, rm);
            return ERR_INTERNAL;
        }
        rm->members = m;
        rm->cap = cap;
    }
    s->room = rm;
    s->member_idx = rm->nmembers;
    rm->members[rm->nmembers++] = s;
    if (app->bus) {
        /* --redis: a new room subscribes to its channel and reads its state from Redis
         * (room_cluster.c), then sends `joined` to the members waiting for it; while the link
         * is down, the link's return subscribes every room again */
        if (rm->nmembers == 1 && !rm->synced && !rm->follow_until_ms) bus_subscribe(app->bus, rm->name, rm->name_len);
        if (!rm->synced) {
            s->awaiting_joined = true;
            return ERR_NONE;
        }
        room_send_joined(app, w, rm, s);
        /* the others, here and on every instance, hear of it from Redis (BUS_JOIN); without
         * Redis only this instance's members do, and the heartbeat announces it later */
        if (bus_presence_join(app->bus, rm->name, rm->name_len, s->id, s->participant, s->participant_len,
                              app->cfg->presence_ttl_ms))
            return ERR_NONE;
    } else {
        room_send_joined(app, w, rm, s);
    }
    write_presence(w, s, "joined");
    broadcast(app, w, rm, s, MSG_PRESENCE);
    return ERR_NONE;
}

void room_send_joined(struct app *app, jw *w, struct room *rm, struct session *s)
{
    s->awaiting_joined = false;
    write_joined(w, rm, s);
    s->joined_rev = doc_rev(rm->doc);
    room_send(app, w, s, MSG_JOINED);
}

struct session *room_member(struct room *rm, const char *id, size_t len)
{
    for (uint32_t i = 0; i < rm->nmembers; i++) {
        struct session *m = rm->members[i];
        if (strlen(m->id) == len && memcmp(m->id, id, len) == 0) return m;
    }
    return NULL;
}

void room_leave(struct app *app, jw *w, struct session *s)
{
    struct room *rm = s->room;
    if (!rm) return;
    cursor_unlink(app, s);
    uint32_t i = s->member_idx;
    rm->members[i] = rm->members[--rm->nmembers];
    rm->members[i]->member_idx = i;
    s->room = NULL;
    /* --redis: every instance's members hear of it from Redis (BUS_LEAVE) */
    bool told = app->bus && bus_presence_leave(app->bus, rm->name, rm->name_len, s->id, s->participant,
                                                    s->participant_len);
    if (rm->nmembers == 0) {
        /* the document stays in its stored room (store.h); --redis: a room followed for HTTP
         * readers stays until room_cluster_tick lets it go */
        if (!app->bus || rm->follow_until_ms <= app->co->now_ms) room_close(app, rm);
        return;
    }
    if (told) return;
    write_presence(w, s, "left");
    broadcast(app, w, rm, s, MSG_PRESENCE);
}

/* ---- traffic ---- */

enum err_code room_chat(struct app *app, jw *w, struct session *s, const char *text, size_t len, const char *id,
                        size_t id_len, bool has_id)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    if (len > app->cfg->max_chat_bytes) return ERR_TOO_LARGE;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"chat\",\"from\":");
    jw_str(w, s->id, strlen(s->id));
    jw_lit(w, ",\"text\":");
    jw_str(w, text, len);
    uint64_t ts = clock_unix_ms();
    jw_lit(w, ",\"ts\":");
    jw_uint(w, ts);
    jw_lit(w, ",\"seq\":");
    size_t prefix = w->len;
    if (app->bus && bus_up(app->bus) && rm->synced) {
        /* --redis: Redis gives the seq and publishes the message; every instance (this one
         * too) delivers it when it comes back on the room's channel, so all see one order */
        if (has_id) {
            jw_lit(w, ",\"id\":");
            jw_str(w, id, id_len);
        }
        jw_char(w, '}');
        if (w->oom) return ERR_INTERNAL;
        if (bus_chat(app->bus, rm->name, rm->name_len, w->buf, prefix, w->buf + prefix, w->len - prefix, ts))
            return ERR_NONE;
        w->len = prefix;                 /* Redis unreachable: this instance's members only */
    }
    uint64_t seq = store_room_next_chat_seq(rm->sr);
    jw_uint(w, seq);
    if (has_id) {
        jw_lit(w, ",\"id\":");
        jw_str(w, id, id_len);
    }
    jw_char(w, '}');
    if (w->oom) return ERR_INTERNAL;
    /* Chat goes out at once and is logged on the side: it is never acked, so nothing waits
     * for the disk (an fdatasync stall would otherwise sit in every room's chat latency).
     * It joins the room's kept chat (`joined`) at once, as everyone in the room has it; a crash
     * may lose the last few milliseconds of chat, never an acknowledged op (docs/persistence.md). */
    if (!store_append_chat(app->store, rm->sr, seq, ts, w->buf, w->len))
        store_room_keep_chat(app->store, rm->sr, seq, ts, w->buf, w->len);
    broadcast(app, w, rm, NULL, MSG_CHAT);
    return ERR_NONE;
}

static void cursor_send(struct app *app, jw *w, struct session *s)
{
    struct room *rm = s->room;
    if (app->bus && bus_up(app->bus) && rm->synced &&
        bus_cursor(app->bus, rm->name, rm->name_len, s->id, s->cursor, s->cursor_len)) {
        s->cursor_sent_ms = app->co->now_ms;     /* comes back as BUS_CURSOR to every instance */
        return;
    }
    jw_reset(w);
    jw_raw(w, s->cursor, s->cursor_len);
    broadcast(app, w, s->room, s, MSG_CURSOR);
    s->cursor_sent_ms = app->co->now_ms;
}

enum err_code room_cursor(struct app *app, struct session *s, const char *msg, size_t len)
{
    if (!s->room) return ERR_NOT_JOINED;
    if (len > s->cursor_cap) {
        char *p = realloc(s->cursor, len);
        if (!p) return ERR_INTERNAL;
        s->cursor = p;
        s->cursor_cap = len;
    }
    memcpy(s->cursor, msg, len);
    s->cursor_len = len;
    if (!s->cursor_pending) {
        s->cursor_pending = true;
        s->cursor_next = app->rooms->cursors;
        app->rooms->cursors = s;
    }
    return ERR_NONE;
}

enum err_code room_element(struct app *app, jw *w, struct session *s, const char *id, size_t id_len,
                           int64_t version, int64_t nonce, const char *json, size_t len)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    if (id_len == 0 || id_len > STORE_ELEMENT_ID_MAX || len > app->cfg->max_element_bytes) return ERR_TOO_LARGE;
    /* --redis: the merge runs in Redis, and the winner comes back as BUS_ELEMENT to every
     * instance (room_cluster.c keeps and broadcasts it) */
    if (app->bus && bus_up(app->bus) && rm->synced &&
        bus_element(app->bus, rm->name, rm->name_len, id, id_len, version, nonce, json, len, s->id,
                    app->cfg->max_room_elements))
        return ERR_NONE;
    /* last writer wins (higher version; on a tie the lower versionNonce), kept and logged by the
     * store like chat: the winner goes out at once, its record with the next batch */
    switch (store_element_put(app->store, rm->sr, id, id_len, version, nonce, json, len, app->cfg->max_room_elements)) {
    case STORE_ELEMENT_WON: break;
    case STORE_ELEMENT_LOST: return ERR_NONE;
    case STORE_ELEMENT_FULL: return ERR_TOO_MANY_ELEMENTS;
    case STORE_ELEMENT_NOMEM: return ERR_INTERNAL;
    }
    jw_reset(w);
    jw_lit(w, "{\"type\":\"element\",\"element\":");
    jw_raw(w, json, len);
    jw_lit(w, ",\"from\":");
    jw_str(w, s->id, strlen(s->id));
    jw_char(w, '}');
    broadcast(app, w, rm, s, MSG_ELEMENT);
    return ERR_NONE;
}

/* --ot-max-lag: op is based on a revision older than the doc's window (doc_oldest_rev). Transforms
 * it, like ot.js's Server.receiveOperation would, against the ops the op log keeps in memory
 * (store.h: the last --history-window ops of the room, the one that created revision r + 1 being
 * the one that turned r into r + 1) up to where the doc's window starts; *base_rev becomes that
 * revision and doc_receive does the rest. The store holds every op of the doc's window too, but
 * the doc's own (parsed) copies are used from there on. Returns DOC_OK or a DOC_E* code. */
static int transform_from_store(struct app *app, struct room *rm, int64_t *base_rev, ot_op *op)
{
    uint64_t cur = doc_rev(rm->doc), oldest = doc_oldest_rev(rm->doc), from = (uint64_t)*base_rev;
    if (cur - from > app->cfg->ot_max_lag || store_room_oldest_op(rm->sr) > from + 1) return DOC_EREV_TOO_OLD;
    ot_op hist, a, b;
    ot_op_init(&hist);
    ot_op_init(&a);
    ot_op_init(&b);
    int rc = ot_op_copy(&a, op) ? DOC_ENOMEM : DOC_OK;
    for (uint64_t r = from; rc == DOC_OK && r < oldest; r++) {
        const struct store_op *so = store_room_op(rm->sr, r + 1);
        if (!so) { rc = DOC_EREV_TOO_OLD; break; }
        int e = ot_op_parse(&hist, so->op, so->op_len);
        if (e == OT_OK) e = ot_transform(&a, &hist, &b, NULL);
        if (e != OT_OK) rc = e == OT_ENOMEM ? DOC_ENOMEM : DOC_EBADOP;
        else ot_op_swap(&a, &b);
    }
    if (rc == DOC_OK) {
        ot_op_swap(op, &a);
        *base_rev = (int64_t)oldest;
    }
    ot_op_free(&hist);
    ot_op_free(&a);
    ot_op_free(&b);
    return rc;
}

void room_send_ack(struct app *app, jw *w, struct session *s, uint64_t rev)
{
    jw_reset(w);
    jw_lit(w, "{\"type\":\"ack\",\"rev\":");
    jw_uint(w, rev);
    jw_char(w, '}');
    room_send(app, w, s, MSG_ACK);
}

enum err_code room_op(struct app *app, jw *w, struct session *s, int64_t base_rev, ot_op *op, const char *cid,
                      size_t cid_len, uint64_t cseq, uint64_t *rev)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    uint64_t last_cseq, last_rev;
    struct conn *c = s->conn;
    /* who is acked once the op is durable (none: the sender is gone) */
    struct conn_ref ref = c ? conn_ref_of(app->cc, c) : (struct conn_ref){ UINT32_MAX, 0 };
    if (cid_len && store_room_cid(rm->sr, cid, cid_len, &last_cseq, &last_rev) && cseq <= last_cseq) {
        /* a resubmission of an op already applied (or of one before it): ack, apply nothing */
        *rev = last_rev;
        if (last_rev <= store_room_durable_rev(rm->sr)) {
            room_send_ack(app, w, s, last_rev);
            return ERR_NONE;
        }
        if (!c || store_wait_durable(app->store, rm->sr, last_rev, ref.idx, ref.gen)) return ERR_NONE;
        return ERR_INTERNAL;
    }
    if (store_core_unavailable(app->store)) return ERR_STORE_UNAVAILABLE;   /* before the doc changes */
    if (store_room_fenced(rm->sr)) return ERR_STORE_CONFLICT;
    int drc = DOC_OK;
    if (base_rev >= 0 && (uint64_t)base_rev < doc_oldest_rev(rm->doc))
        drc = transform_from_store(app, rm, &base_rev, op);
    if (drc == DOC_OK) drc = doc_receive(rm->doc, base_rev, op);
    switch (drc) {
    case DOC_OK: break;
    case DOC_EBADOP: return ERR_BAD_OP;
    case DOC_EREV_FUTURE: return ERR_REV_FUTURE;
    case DOC_EREV_TOO_OLD: return ERR_REV_TOO_OLD;
    case DOC_ETOOBIG: return ERR_TOO_LARGE;
    default: return ERR_INTERNAL;
    }
    *rev = doc_rev(rm->doc);
    stat_add(&app->co->stats.ot_ops, 1);
    /* The ack and the broadcast wait until the op log has the op durably (room_op_durable):
     * nobody sees an op that a crash could take back. */
    jw_reset(w);
    ot_op_to_json(op, w);
    if (w->oom || !store_append_op(app->store, rm->sr, *rev, clock_unix_ms(), s->id, strlen(s->id), w->buf, w->len,
                                   cid, cid_len, cseq, ref.idx, ref.gen)) {
        log_error("room %s: out of memory logging op rev %llu; it is applied but will not be acked",
                  rm->name, (unsigned long long)*rev);
        return ERR_INTERNAL;
    }
    return ERR_NONE;
}

void room_op_durable(struct app *app, jw *w, struct store_room *sr, uint64_t rev, struct conn_ref sender_ref,
                     enum store_outcome outcome)
{
    bool ack_only = outcome == STORE_ACK_ONLY;
    struct room *rm = store_room_live(sr);
    const struct store_op *o = store_room_op(sr, rev);
    if (!rm || (!o && !ack_only)) return;  /* nobody left to tell */
    struct session *sender = NULL;
    struct conn *c = conn_deref(app->cc, sender_ref);
    struct session *cs = c ? conn_user(c) : NULL;
    /* a resubmission is acked even if its `joined` showed the op already */
    if (cs && cs->room == rm && (ack_only || cs->joined_rev < rev)) sender = cs;
    if (outcome == STORE_CONFLICT) {
        if (sender) {
            wire_write_error(w, ERR_STORE_CONFLICT,
                             "another writer committed this revision in the store first; this op is not applied: re-join the room",
                             MSG_OP);
            stat_add(&app->co->stats.errors[ERR_STORE_CONFLICT], 1);
            room_send(app, w, sender, MSG_ERROR);
        }
        return;
    }
    if (sender) room_send_ack(app, w, sender, rev);
    if (ack_only) return;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"op\",\"rev\":");
    jw_uint(w, rev);
    jw_lit(w, ",\"op\":");
    jw_raw(w, o->op, o->op_len);
    jw_lit(w, ",\"from\":");
    jw_str(w, o->from, o->from_len);
    jw_char(w, '}');
    room_broadcast(app, w, rm, sender, MSG_OP, rev);
}

/* ---- turn end ---- */

uint32_t rooms_end_of_turn(struct app *app, jw *w)
{
    struct rooms *r = app->rooms;
    while (r->dead) {
        struct session *s = r->dead;
        r->dead = s->dead_next;
        room_leave(app, w, s);
        session_free(s);
    }
    uint32_t next_due = UINT32_MAX, interval = app->cfg->cursor_interval_ms;
    struct session **p = &r->cursors;
    while (*p) {
        struct session *s = *p;
        uint64_t due = s->cursor_sent_ms + interval;
        if (app->co->now_ms >= due || s->cursor_sent_ms == 0) {
            *p = s->cursor_next;
            s->cursor_pending = false;
            s->cursor_next = NULL;
            cursor_send(app, w, s);
        } else {
            if (due - app->co->now_ms < next_due) next_due = (uint32_t)(due - app->co->now_ms);
            p = &s->cursor_next;
        }
    }
    return next_due;
}

bool room_describe(struct app *app, jw *w, const char *name, size_t len)
{
    struct store_room *sr = store_room_get(app->store, name, len, false);
    if (!sr) return false;
    jw_reset(w);
    jw_lit(w, "{\"room\":");
    jw_str(w, name, len);
    write_state(w, store_room_doc(sr), store_room_live(sr));
    jw_lit(w, "}\n");
    return true;
}
