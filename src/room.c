/* room.c: rooms, membership, chat, presence, cursors, elements and the OT document of each
 * room, on its owning core (see room.h).
 *
 * Broadcasts are encoded once into a shared buffer holding the whole WebSocket frame and
 * queued on every member's connection by reference, so fan-out costs one JSON encoding and
 * one small queue entry per receiver.
 */
#include "room.h"

#include "conn.h"
#include "hash.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct room {
    struct room *prev, *next;  /* the core's rooms in memory (found by name through the store) */
    char name[ROOM_NAME_MAX + 1];
    size_t name_len;
    struct session **members;
    uint32_t nmembers, cap;
    doc *doc;                  /* borrowed from the stored room, which outlives this struct */
    struct store_room *sr;     /* also keeps the room's canvas elements */
};

struct rooms {
    struct room *live;         /* rooms in memory, for teardown */
    uint64_t next_participant;
    struct session *dead;      /* detached, to leave at turn end */
    struct session *cursors;   /* with a pending cursor */
};

int rooms_init(struct core *co)
{
    struct rooms *r = calloc(1, sizeof *r);
    if (!r) return -1;
    co->rooms = r;
    return 0;
}

static void room_free(struct room *rm)
{
    free(rm->members);
    if (rm->sr) store_room_set_live(rm->sr, NULL);
    free(rm);
}

static void session_free(struct session *s)
{
    free(s->participant);
    free(s->cursor);
    free(s);
}

void rooms_free(struct core *co)
{
    struct rooms *r = co->rooms;
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
        room_free(rm);
    }
    free(r);
    co->rooms = NULL;
}

/* ---- lookup ---- */

/* A room in memory: every one has a stored room (its document and history) that points
 * back to it, so the store's table is the one index by name. */
static struct room *room_find(struct core *co, const char *name, size_t len)
{
    struct store_room *sr = store_room_get(co->store, name, len, false);
    return sr ? store_room_live(sr) : NULL;
}

static int room_create(struct core *co, const char *name, size_t len, struct room **out)
{
    struct server *srv = co->srv;
    if (atomic_fetch_add_explicit(&srv->rooms, 1, memory_order_relaxed) >= co->cfg->max_rooms) {
        atomic_fetch_sub_explicit(&srv->rooms, 1, memory_order_relaxed);
        return ERR_TOO_MANY_ROOMS;
    }
    struct room *rm = calloc(1, sizeof *rm);
    /* the stored room (recovered from the log, or kept since the room was last in memory)
     * holds the document; a new name gets an empty one */
    if (rm) rm->sr = store_room_get(co->store, name, len, true);
    if (!rm || !rm->sr) {
        free(rm);
        atomic_fetch_sub_explicit(&srv->rooms, 1, memory_order_relaxed);
        return ERR_INTERNAL;
    }
    rm->doc = store_room_doc(rm->sr);
    store_room_set_live(rm->sr, rm);
    memcpy(rm->name, name, len);
    rm->name_len = len;
    struct rooms *r = co->rooms;
    rm->next = r->live;
    if (r->live) r->live->prev = rm;
    r->live = rm;
    stat_add(&co->stats.rooms, 1);
    *out = rm;
    return -1;
}

static void room_destroy(struct core *co, struct room *rm)
{
    struct rooms *r = co->rooms;
    if (rm->prev) rm->prev->next = rm->next;
    else r->live = rm->next;
    if (rm->next) rm->next->prev = rm->prev;
    stat_sub(&co->stats.rooms, 1);
    atomic_fetch_sub_explicit(&co->srv->rooms, 1, memory_order_relaxed);
    room_free(rm);
}

/* ---- output ---- */

/* co->out as one WebSocket text frame in a shared buffer (refs = 1), or NULL on ENOMEM. */
static struct obuf *frame_of_out(struct core *co)
{
    if (co->out.oom) return NULL;
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl = ws_frame_header(hdr, WS_OP_TEXT, true, co->out.len, NULL);
    struct obuf *b = obuf_new(&co->pool, hl + co->out.len);
    if (!b) return NULL;
    memcpy(b->data, hdr, hl);
    memcpy(b->data + hl, co->out.buf, co->out.len);
    b->len = (uint32_t)(hl + co->out.len);
    return b;
}

/* Sends co->out to every live member except `except` and, if rev > 0, except members whose
 * `joined` already showed revision rev. */
static void broadcast_out_rev(struct core *co, struct room *rm, const struct session *except, enum msg_type type,
                              uint64_t rev)
{
    if (rm->nmembers == 0 || (rm->nmembers == 1 && rm->members[0] == except)) return;
    uint64_t t0 = clock_ns();
    struct obuf *f = frame_of_out(co);
    if (!f) {
        log_warn("out of memory encoding a %s broadcast", msg_type_names[type]);
        return;
    }
    uint64_t n = 0;
    for (uint32_t i = 0; i < rm->nmembers; i++) {
        struct session *m = rm->members[i];
        if (m == except || !m->conn || (rev && m->joined_rev >= rev)) continue;
        if (conn_send_shared(co, m->conn, f)) n++;
    }
    obuf_unref(&co->pool, f);
    stat_add(&co->stats.msgs_out[type], n);
    stat_add(&co->stats.broadcast_deliveries, n);
    hist_observe(&co->stats.broadcast, clock_ns() - t0);
}

static void broadcast_out(struct core *co, struct room *rm, const struct session *except, enum msg_type type)
{
    broadcast_out_rev(co, rm, except, type, 0);
}

static void send_out(struct core *co, struct session *s, enum msg_type type)
{
    if (!s->conn || co->out.oom) return;
    if (conn_send_frame(co, s->conn, WS_OP_TEXT, co->out.buf, co->out.len)) stat_add(&co->stats.msgs_out[type], 1);
}

/* ---- sessions ---- */

struct session *session_new(struct core *co)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    snprintf(s->id, sizeof s->id, "%x-%llx", (unsigned)co->id, (unsigned long long)++co->rooms->next_participant);
    s->tokens_milli = (uint64_t)co->cfg->rate_limit * 1000;
    s->tokens_ms = co->now_ms;
    return s;
}

static void cursor_unlink(struct core *co, struct session *s)
{
    if (!s->cursor_pending) return;
    struct session **p = &co->rooms->cursors;
    while (*p && *p != s) p = &(*p)->cursor_next;
    if (*p) *p = s->cursor_next;
    s->cursor_pending = false;
    s->cursor_next = NULL;
}

void session_detach(struct core *co, struct session *s)
{
    if (s->dead) return;
    s->conn = NULL;
    s->dead = true;
    cursor_unlink(co, s);
    s->dead_next = co->rooms->dead;
    co->rooms->dead = s;
}

/* ---- membership ---- */

static void write_participant(struct core *co, struct session *s, const struct user_info *u, bool *ok)
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
    (void)co;
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

static void write_presence(struct core *co, const struct session *s, const char *event)
{
    jw *w = &co->out;
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
    jw_char(w, ']');
}

static void write_joined(struct core *co, const struct room *rm, const struct session *s)
{
    jw *w = &co->out;
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

int room_join(struct core *co, struct session *s, const char *name, size_t len, const struct user_info *u)
{
    if (!shard_name_valid(name, len)) return ERR_BAD_ROOM;
    struct room *rm = room_find(co, name, len);
    bool ok;
    if (rm && s->room == rm) {           /* re-join (after rev-too-old, say): a fresh `joined` */
        write_participant(co, s, u, &ok);
        if (!ok) return ERR_INTERNAL;
        write_joined(co, rm, s);
        s->joined_rev = doc_rev(rm->doc);
        send_out(co, s, MSG_JOINED);
        return -1;
    }
    if (s->room) room_leave(co, s);      /* another room: rm is unaffected */
    if (rm && rm->nmembers >= co->cfg->max_room_members) return ERR_ROOM_FULL;
    write_participant(co, s, u, &ok);
    if (!ok) return ERR_INTERNAL;
    if (!rm) {
        int e = room_create(co, name, len, &rm);
        if (e >= 0) return e;
    }
    if (rm->nmembers == rm->cap) {
        uint32_t cap = rm->cap ? rm->cap * 2 : 8;
        struct session **m = realloc(rm->members, cap * sizeof *m);
        if (!m) {
            if (rm->nmembers == 0) room_destroy(co, rm);
            return ERR_INTERNAL;
        }
        rm->members = m;
        rm->cap = cap;
    }
    s->room = rm;
    s->member_idx = rm->nmembers;
    rm->members[rm->nmembers++] = s;
    write_joined(co, rm, s);
    s->joined_rev = doc_rev(rm->doc);
    send_out(co, s, MSG_JOINED);
    write_presence(co, s, "joined");
    broadcast_out(co, rm, s, MSG_PRESENCE);
    return -1;
}

void room_leave(struct core *co, struct session *s)
{
    struct room *rm = s->room;
    if (!rm) return;
    cursor_unlink(co, s);
    uint32_t i = s->member_idx;
    rm->members[i] = rm->members[--rm->nmembers];
    rm->members[i]->member_idx = i;
    s->room = NULL;
    if (rm->nmembers == 0) {
        room_destroy(co, rm);           /* the document stays in its stored room (store.h) */
        return;
    }
    write_presence(co, s, "left");
    broadcast_out(co, rm, s, MSG_PRESENCE);
}

/* ---- traffic ---- */

int room_chat(struct core *co, struct session *s, const char *text, size_t len, const char *id, size_t id_len,
              bool has_id)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    if (len > co->cfg->max_chat_bytes) return ERR_TOO_LARGE;
    jw *w = &co->out;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"chat\",\"from\":");
    jw_str(w, s->id, strlen(s->id));
    jw_lit(w, ",\"text\":");
    jw_str(w, text, len);
    uint64_t ts = clock_unix_ms(), seq = store_room_next_chat_seq(rm->sr);
    jw_lit(w, ",\"ts\":");
    jw_uint(w, ts);
    jw_lit(w, ",\"seq\":");
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
    if (!store_append_chat(co->store, rm->sr, seq, ts, w->buf, w->len))
        store_room_keep_chat(co->store, rm->sr, seq, ts, w->buf, w->len);
    broadcast_out(co, rm, NULL, MSG_CHAT);
    return -1;
}

static void cursor_send(struct core *co, struct session *s)
{
    jw *w = &co->out;
    jw_reset(w);
    jw_raw(w, s->cursor, s->cursor_len);
    broadcast_out(co, s->room, s, MSG_CURSOR);
    s->cursor_sent_ms = co->now_ms;
}

int room_cursor(struct core *co, struct session *s, const char *msg, size_t len)
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
        s->cursor_next = co->rooms->cursors;
        co->rooms->cursors = s;
    }
    return -1;
}

int room_element(struct core *co, struct session *s, const char *id, size_t id_len, int64_t version,
                 int64_t nonce, const char *json, size_t len)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    if (id_len == 0 || id_len > STORE_ELEMENT_ID_MAX || len > co->cfg->max_element_bytes) return ERR_TOO_LARGE;
    /* last writer wins (higher version; on a tie the lower versionNonce), kept and logged by the
     * store like chat: the winner goes out at once, its record with the next batch */
    switch (store_element_put(co->store, rm->sr, id, id_len, version, nonce, json, len, co->cfg->max_room_elements)) {
    case STORE_ELEMENT_WON: break;
    case STORE_ELEMENT_LOST: return -1;
    case STORE_ELEMENT_FULL: return ERR_TOO_MANY_ELEMENTS;
    case STORE_ELEMENT_NOMEM: return ERR_INTERNAL;
    }
    jw *w = &co->out;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"element\",\"element\":");
    jw_raw(w, json, len);
    jw_lit(w, ",\"from\":");
    jw_str(w, s->id, strlen(s->id));
    jw_char(w, '}');
    broadcast_out(co, rm, s, MSG_ELEMENT);
    return -1;
}

/* --ot-max-lag: op is based on a revision older than the doc's window (doc_oldest_rev). Transforms
 * it, like ot.js's Server.receiveOperation would, against the ops the op log keeps in memory
 * (store.h: the last --history-window ops of the room, the one that created revision r + 1 being
 * the one that turned r into r + 1) up to where the doc's window starts; *base_rev becomes that
 * revision and doc_receive does the rest. The store holds every op of the doc's window too, but
 * the doc's own (parsed) copies are used from there on. Returns DOC_OK or a DOC_E* code. */
static int transform_from_store(struct core *co, struct room *rm, int64_t *base_rev, ot_op *op)
{
    uint64_t cur = doc_rev(rm->doc), oldest = doc_oldest_rev(rm->doc), from = (uint64_t)*base_rev;
    if (cur - from > co->cfg->ot_max_lag || store_room_oldest_op(rm->sr) > from + 1) return DOC_EREV_TOO_OLD;
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

static void send_ack(struct core *co, struct session *s, uint64_t rev)
{
    jw *w = &co->out;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"ack\",\"rev\":");
    jw_uint(w, rev);
    jw_char(w, '}');
    send_out(co, s, MSG_ACK);
}

int room_op(struct core *co, struct session *s, int64_t base_rev, ot_op *op, const char *cid, size_t cid_len,
            uint64_t cseq, uint64_t *rev)
{
    struct room *rm = s->room;
    if (!rm) return ERR_NOT_JOINED;
    uint64_t last_cseq, last_rev;
    struct conn *c = s->conn;
    if (cid_len && store_room_cid(rm->sr, cid, cid_len, &last_cseq, &last_rev) && cseq <= last_cseq) {
        /* a resubmission of an op already applied (or of one before it): ack, apply nothing */
        *rev = last_rev;
        if (last_rev <= store_room_durable_rev(rm->sr)) {
            send_ack(co, s, last_rev);
            return -1;
        }
        if (!c || store_wait_durable(co->store, rm->sr, last_rev, (uint32_t)(c - co->conns), c->gen)) return -1;
        return ERR_INTERNAL;
    }
    if (store_core_unavailable(co->store)) return ERR_STORE_UNAVAILABLE;   /* before the doc changes */
    if (store_room_fenced(rm->sr)) return ERR_STORE_CONFLICT;
    int drc = DOC_OK;
    if (base_rev >= 0 && (uint64_t)base_rev < doc_oldest_rev(rm->doc))
        drc = transform_from_store(co, rm, &base_rev, op);
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
    stat_add(&co->stats.ot_ops, 1);
    /* The ack and the broadcast wait until the op log has the op durably (room_op_durable):
     * nobody sees an op that a crash could take back. */
    jw *w = &co->out;
    jw_reset(w);
    ot_op_to_json(op, w);
    if (w->oom || !store_append_op(co->store, rm->sr, *rev, clock_unix_ms(), s->id, strlen(s->id), w->buf, w->len,
                                   cid, cid_len, cseq, c ? (uint32_t)(c - co->conns) : UINT32_MAX, c ? c->gen : 0)) {
        log_error("room %s: out of memory logging op rev %llu; it is applied but will not be acked",
                  rm->name, (unsigned long long)*rev);
        return ERR_INTERNAL;
    }
    return -1;
}

void room_op_durable(struct core *co, struct store_room *sr, uint64_t rev, uint32_t conn_idx, uint32_t conn_gen,
                     enum store_outcome outcome)
{
    bool ack_only = outcome == STORE_ACK_ONLY;
    struct room *rm = store_room_live(sr);
    const struct store_op *o = store_room_op(sr, rev);
    if (!rm || (!o && !ack_only)) return;  /* nobody left to tell */
    struct session *sender = NULL;
    if (conn_idx < co->conn_cap) {
        struct conn *c = &co->conns[conn_idx];
        /* a resubmission is acked even if its `joined` showed the op already */
        if (c->gen == conn_gen && c->state == CONN_WS && c->session && c->session->room == rm &&
            (ack_only || c->session->joined_rev < rev))
            sender = c->session;
    }
    if (outcome == STORE_CONFLICT) {
        if (sender)
            proto_send_error(co, sender->conn, ERR_STORE_CONFLICT,
                             "another writer committed this revision in the store first; this op is not applied: re-join the room",
                             MSG_OP);
        return;
    }
    if (sender) send_ack(co, sender, rev);
    if (ack_only) return;
    jw *w = &co->out;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"op\",\"rev\":");
    jw_uint(w, rev);
    jw_lit(w, ",\"op\":");
    jw_raw(w, o->op, o->op_len);
    jw_lit(w, ",\"from\":");
    jw_str(w, o->from, o->from_len);
    jw_char(w, '}');
    broadcast_out_rev(co, rm, sender, MSG_OP, rev);
}

/* ---- turn end ---- */

uint32_t rooms_end_of_turn(struct core *co)
{
    struct rooms *r = co->rooms;
    while (r->dead) {
        struct session *s = r->dead;
        r->dead = s->dead_next;
        room_leave(co, s);
        session_free(s);
    }
    uint32_t next_due = UINT32_MAX, interval = co->cfg->cursor_interval_ms;
    struct session **p = &r->cursors;
    while (*p) {
        struct session *s = *p;
        uint64_t due = s->cursor_sent_ms + interval;
        if (co->now_ms >= due || s->cursor_sent_ms == 0) {
            *p = s->cursor_next;
            s->cursor_pending = false;
            s->cursor_next = NULL;
            cursor_send(co, s);
        } else {
            if (due - co->now_ms < next_due) next_due = (uint32_t)(due - co->now_ms);
            p = &s->cursor_next;
        }
    }
    return next_due;
}

bool room_describe(struct core *co, const char *name, size_t len)
{
    struct store_room *sr = store_room_get(co->store, name, len, false);
    if (!sr) return false;
    jw *w = &co->out;
    jw_reset(w);
    jw_lit(w, "{\"room\":");
    jw_str(w, name, len);
    write_state(w, store_room_doc(sr), store_room_live(sr));
    jw_lit(w, "}\n");
    return true;
}
