/* rl_ot.c: the `ot` scenario: editors of shared documents following ot.js's client rules.
 *
 * Each room is one document. Every member joins it (`joined` gives rev and doc) and the
 * first --senders members of each room edit it: each scheduled event is one random edit
 * (insert 1-8 characters, some of them non-ASCII and astral so UTF-16 counting is exercised,
 * or delete 1-5 characters, never splitting a surrogate pair; past --doc-max units deletes
 * dominate), applied locally at once. As in ot.js's Client: at most one op is in flight
 * (`awaiting_confirm`); edits made meanwhile are composed into one buffer
 * (`awaiting_with_buffer`) that is sent when the ack comes; an incoming `op` is transformed
 * against the outstanding op and the buffer before it is applied, and they are transformed
 * in turn. Revisions are checked: every `ack` and `op` must carry the client's revision + 1.
 *
 * Measured: ack latency (scheduled time of the first edit in an op -> its `ack`, in
 * st->ack), the edits each acked op carried (st->ot_edits_acked; edits - edits acked were
 * not acknowledged when the run ended) and remote-apply latency (the same scheduled time ->
 * another editor applied the op, in st->lat). `expected` counts the remote applications
 * each sent op should cause (members joined - 1), `received` those that happened. At the
 * end (after the drain, with every connection still open) each room's document is fetched
 * with GET /rooms/<room> and every member's document and revision must equal the server's:
 * any mismatch fails the run (exit 1); with the server gone the GET fails and counts the
 * same way.
 *
 * --acked-log FILE: every ack, and every op received from another editor, appends one JSON
 * line to FILE with one write(2) as soon as it is read (so a ringload that is interrupted or
 * dies keeps a line for everything it saw; workers append to the same file, O_APPEND, one
 * line per write). An `ack` line holds the room, the acked revision, the base revision the op
 * was sent at, the sender's participant id, the op as sent and the op as acked (the sent op
 * transformed against the ops received since: what the server applied and stored at that
 * revision); an `op` line the room, revision, author and op as received. Tests check them
 * against the server's /history (tests/integration/test_persistence.py). A failed write
 * fails the run (exit 1).
 *
 * Owns one struct otc per connection (its document, ops, ack history and, with --acked-log,
 * the JSON of its op in flight as sent), the scratch ops and the acked log's descriptor.
 */
#include "rl_run.h"

#include "ot.h"
#include "rl_chatmsg.h"
#include "rl_http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACK_RING 16
#define MAX_REPORTED_MISMATCHES 5

enum { OS_NONE, OS_JOINING, OS_JOINED, OS_BROKEN };

struct acked { int64_t rev; uint64_t sched; };

struct otc {
    ot_text doc;
    ot_op out, buf;               /* outstanding (in flight) and buffered ops */
    bool has_out, has_buf;
    uint64_t out_sched, buf_sched;    /* scheduled time of the first edit in each */
    uint32_t out_edits, buf_edits;    /* edits composed into each (ot.edits_acked) */
    int64_t rev;                  /* revisions the client has seen (ot.js Client.revision) */
    int64_t out_base;             /* the revision the outstanding op was sent at */
    char *sent;                   /* --acked-log: the outstanding op's JSON as sent */
    size_t sent_len, sent_cap;
    struct acked ring[ACK_RING];  /* this client's last acknowledged ops (for receivers) */
    uint32_t ring_next;
};

struct ots {
    struct otc *c;
    ot_op edit, t1, t2, t3;       /* scratch */
    ot_text tmp;
    uint64_t expected_all, applied_all;
    uint64_t mismatches_reported;
    char *strbuf;                 /* for unescaping `doc` strings */
    size_t strcap;
    int log_fd;                   /* --acked-log, -1 if none */
    bool log_failed;
    jw logw;                      /* one acked-log line */
};

static struct otc *otc_of(struct rl_run *r, struct rl_conn *c)
{
    struct ots *s = r->scd;
    return &s->c[c->idx];
}

static int ot_setup(struct rl_run *r)
{
    struct ots *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    r->scd = s;
    s->c = calloc(r->nconns ? r->nconns : 1, sizeof *s->c);
    if (!s->c) return -ENOMEM;
    for (uint32_t i = 0; i < r->nconns; i++) {
        ot_text_init(&s->c[i].doc);
        ot_op_init(&s->c[i].out);
        ot_op_init(&s->c[i].buf);
    }
    ot_op_init(&s->edit);
    ot_op_init(&s->t1);
    ot_op_init(&s->t2);
    ot_op_init(&s->t3);
    ot_text_init(&s->tmp);
    jw_init(&s->logw, 512);
    s->log_fd = -1;
    if (r->o->acked_log[0]) {
        s->log_fd = open(r->o->acked_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (s->log_fd < 0) {
            int e = errno;
            fprintf(stderr, "ringload: --acked-log %s: %s\n", r->o->acked_log, strerror(e));
            return -e;
        }
    }
    return 0;
}

static void ot_fini(struct rl_run *r)
{
    struct ots *s = r->scd;
    if (!s) return;
    for (uint32_t i = 0; s->c && i < r->nconns; i++) {
        ot_text_free(&s->c[i].doc);
        ot_op_free(&s->c[i].out);
        ot_op_free(&s->c[i].buf);
        free(s->c[i].sent);
    }
    free(s->c);
    ot_op_free(&s->edit);
    ot_op_free(&s->t1);
    ot_op_free(&s->t2);
    ot_op_free(&s->t3);
    ot_text_free(&s->tmp);
    free(s->strbuf);
    jw_free(&s->logw);
    if (s->log_fd >= 0) close(s->log_fd);
    free(s);
    r->scd = NULL;
}

static void ot_open(struct rl_run *r, struct rl_conn *c)
{
    if (!rl_chatmsg_join(r, c, r->rooms[c->room].global)) return;
    c->sc_state = OS_JOINING;
}

static void ot_closed(struct rl_run *r, struct rl_conn *c)
{
    if ((c->sc_state == OS_JOINED || c->sc_state == OS_BROKEN) && c->room != RL_NIL) r->rooms[c->room].joined--;
    c->sc_state = OS_NONE;
    struct otc *o = otc_of(r, c);
    o->has_out = o->has_buf = false;
}

/* A client whose state can no longer be trusted stops editing (and is not compared). */
static void broken(struct rl_run *r, struct rl_conn *c, const char *why)
{
    rl_run_error(r, RL_ERR_OT);
    if (c->sc_state == OS_BROKEN) return;
    if (r->st->errors[RL_ERR_OT] <= MAX_REPORTED_MISMATCHES)
        fprintf(stderr, "ringload: ot: connection %" PRIu32 " (%s): %s\n", rl_run_gid(r, c), c->self, why);
    c->sc_state = OS_BROKEN;
}

/* ---- --acked-log ---- */

static bool logging(struct rl_run *r)
{
    return ((struct ots *)r->scd)->log_fd >= 0;
}

/* Keeps the JSON of the op just sent (its ack's line quotes it). */
static void keep_sent(struct rl_run *r, struct rl_conn *c, const char *json, size_t len)
{
    struct otc *o = otc_of(r, c);
    if (len > o->sent_cap) {
        size_t cap = o->sent_cap ? o->sent_cap : 64;
        while (cap < len) cap *= 2;
        char *p = realloc(o->sent, cap);
        if (!p) {
            o->sent_len = 0;          /* logged as null; the line still names the ack */
            return;
        }
        o->sent = p;
        o->sent_cap = cap;
    }
    memcpy(o->sent, json, len);
    o->sent_len = len;
}

static void log_failure(struct ots *s, const char *why)
{
    if (!s->log_failed) fprintf(stderr, "ringload: ot: --acked-log: %s (the run fails)\n", why);
    s->log_failed = true;
}

/* Starts a line: {"kind":KIND,"room":...,"rev":REV,"from":FROM,"conn":GID */
static jw *line_start(struct rl_run *r, struct rl_conn *c, const char *kind, int64_t rev, const char *from,
                      size_t from_len)
{
    struct ots *s = r->scd;
    char room[64];
    snprintf(room, sizeof room, "%s%" PRIu32, r->o->room_prefix, r->rooms[c->room].global);
    jw *w = &s->logw;
    jw_reset(w);
    jw_lit(w, "{\"kind\":\"");
    jw_lit(w, kind);
    jw_lit(w, "\",\"room\":");
    jw_str(w, room, strlen(room));
    jw_lit(w, ",\"rev\":");
    jw_int(w, rev);
    jw_lit(w, ",\"from\":");
    jw_str(w, from, from_len);
    jw_lit(w, ",\"conn\":");
    jw_uint(w, rl_run_gid(r, c));
    return w;
}

/* Ends the line and writes it with one write(2) (O_APPEND: whole lines even from workers). */
static void line_write(struct ots *s, jw *w)
{
    jw_lit(w, "}\n");
    if (w->oom) return log_failure(s, "out of memory");
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = write(s->log_fd, w->buf + off, w->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return log_failure(s, n < 0 ? strerror(errno) : "short write");
        off += (size_t)n;
    }
}

/* The ack just read: o->rev is the acked revision, o->out the op as acked. */
static void log_ack(struct rl_run *r, struct rl_conn *c)
{
    struct otc *o = otc_of(r, c);
    jw *w = line_start(r, c, "ack", o->rev, c->self, strlen(c->self));
    jw_lit(w, ",\"base\":");
    jw_int(w, o->out_base);
    jw_lit(w, ",\"sent\":");
    if (o->sent_len) jw_raw(w, o->sent, o->sent_len);
    else jw_lit(w, "null");
    jw_lit(w, ",\"op\":");
    ot_op_to_json(&o->out, w);
    line_write(r->scd, w);
}

/* An op another editor made, just read (before it is transformed here). */
static void log_op(struct rl_run *r, struct rl_conn *c, int64_t rev, const char *from, size_t from_len, const ot_op *op)
{
    jw *w = line_start(r, c, "op", rev, from, from_len);
    jw_lit(w, ",\"op\":");
    ot_op_to_json(op, w);
    line_write(r->scd, w);
}

static void send_out(struct rl_run *r, struct rl_conn *c)
{
    struct otc *o = otc_of(r, c);
    jw *w = &r->out;
    jw_reset(w);
    jw_lit(w, "{\"type\":\"op\",\"rev\":");
    jw_int(w, o->rev);
    jw_lit(w, ",\"op\":");
    size_t op_at = w->len;
    ot_op_to_json(&o->out, w);
    size_t op_len = w->len - op_at;
    jw_char(w, '}');
    if (w->oom || !rl_conn_send(r, c, WS_OP_TEXT, w->buf, w->len)) return;
    o->has_out = true;
    o->out_base = o->rev;
    if (logging(r)) keep_sent(r, c, w->buf + op_at, op_len);
    struct ots *s = r->scd;
    uint32_t others = r->rooms[c->room].joined ? r->rooms[c->room].joined - 1 : 0;
    s->expected_all += others;
    r->st->ot_ops++;
    if (rl_run_measured(r, o->out_sched)) r->st->expected += others;
}

/* ---- random edits ---- */

/* Byte offset and unit position of the code point boundary at or before unit `pos`. */
static void boundary(const ot_text *t, uint64_t pos, size_t *byte, uint64_t *unit)
{
    size_t b = 0;
    uint64_t u = 0;
    while (b < t->bytes) {
        unsigned char ch = (unsigned char)t->utf8[b];
        size_t len = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
        uint64_t units = len == 4 ? 2 : 1;
        if (u + units > pos) break;
        b += len;
        u += units;
    }
    *byte = b;
    *unit = u;
}

static const char *const pieces[] = { "a", "b", "c", "d", "e", " ", "x", "y", "z", "\n", "\xC3\xA9" /* é */,
                                      "\xE2\x82\xAC" /* € */, "\xF0\x9F\x98\x80" /* 😀, a surrogate pair */ };

/* Builds a random edit of doc into s->edit. */
static int make_edit(struct rl_run *r, struct ots *s, const ot_text *doc)
{
    ot_op *e = &s->edit;
    ot_op_clear(e);
    uint64_t n = doc->units;
    size_t at_byte;
    uint64_t at;
    boundary(doc, n ? rl_rng_below(&r->rng, (uint32_t)(n + 1 > UINT32_MAX ? UINT32_MAX : n + 1)) : 0, &at_byte, &at);
    bool del = n > 0 && (n > r->o->doc_max ? rl_rng_below(&r->rng, 4) != 0 : rl_rng_below(&r->rng, 3) == 0);
    int rc = ot_op_retain(e, at);
    if (del) {
        /* delete 1-5 whole code points after `at` */
        uint32_t cps = 1 + rl_rng_below(&r->rng, 5);
        size_t b = at_byte;
        uint64_t units = 0;
        while (cps-- && b < doc->bytes) {
            unsigned char ch = (unsigned char)doc->utf8[b];
            size_t len = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
            b += len;
            units += len == 4 ? 2 : 1;
        }
        if (!units) del = false;
        else {
            rc = rc ? rc : ot_op_delete(e, units);
            rc = rc ? rc : ot_op_retain(e, n - at - units);
        }
    }
    if (!del) {
        char text[64];
        size_t tl = 0;
        uint32_t k = 1 + rl_rng_below(&r->rng, 8);
        while (k--) {
            uint32_t which = rl_rng_below(&r->rng, 16);
            const char *p = which < 10 ? pieces[which] : which < 15 ? pieces[rl_rng_below(&r->rng, 10)]
                                                                      : pieces[10 + rl_rng_below(&r->rng, 3)];
            size_t pl = strlen(p);
            memcpy(text + tl, p, pl);
            tl += pl;
        }
        rc = rc ? rc : ot_op_insert(e, text, tl);
        rc = rc ? rc : ot_op_retain(e, n - at);
    }
    return rc;
}

static void edit(struct rl_run *r, struct rl_conn *c, uint64_t sched)
{
    struct ots *s = r->scd;
    struct otc *o = otc_of(r, c);
    if (make_edit(r, s, &o->doc) || ot_apply(&s->edit, &o->doc, &s->tmp)) return broken(r, c, "could not make or apply a local edit");
    ot_text_swap(&o->doc, &s->tmp);
    r->st->ot_edits++;
    rl_run_sent(r, sched, 0);
    if (!o->has_out) {
        ot_op_swap(&o->out, &s->edit);
        o->out_sched = sched;
        o->out_edits = 1;
        send_out(r, c);
    } else if (!o->has_buf) {
        ot_op_swap(&o->buf, &s->edit);
        o->buf_sched = sched;
        o->buf_edits = 1;
        o->has_buf = true;
    } else {
        if (ot_compose(&o->buf, &s->edit, &s->t1)) return broken(r, c, "compose of the buffer failed");
        ot_op_swap(&o->buf, &s->t1);
        o->buf_edits++;
    }
}

static void ot_tick(struct rl_run *r, uint64_t k, uint64_t sched)
{
    struct rl_conn *c = &r->conns[r->senders[k % r->nsenders]];
    if (!rl_conn_is_open(c) || c->sc_state != OS_JOINED) {
        if (rl_run_measured(r, sched)) rl_run_error(r, RL_ERR_SKIPPED);
        return;
    }
    edit(r, c, sched);
}

/* ---- server messages ---- */

static bool get_string(struct ots *s, const json_doc *d, int tok, const char **out, size_t *len)
{
    if (tok < 0 || !json_is_string(d, tok)) return false;
    size_t need = json_raw_len(d, tok) + 1;
    if (need > s->strcap) {
        char *p = realloc(s->strbuf, need);
        if (!p) return false;
        s->strbuf = p;
        s->strcap = need;
    }
    if (json_get_string(d, tok, s->strbuf, s->strcap, len) != JSON_OK) return false;
    *out = s->strbuf;
    return true;
}

static void on_joined(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m)
{
    struct ots *s = r->scd;
    struct otc *o = otc_of(r, c);
    const char *doc;
    size_t len;
    if (c->sc_state != OS_JOINING) return;
    if (!m->has_rev || !get_string(s, &m->doc, m->doc_tok, &doc, &len) || ot_text_set(&o->doc, doc, len)) {
        rl_run_error(r, RL_ERR_BAD_MESSAGE);
        return;
    }
    snprintf(c->self, sizeof c->self, "%s", m->self);
    o->rev = m->rev;
    o->has_out = o->has_buf = false;
    c->sc_state = OS_JOINED;
    r->rooms[c->room].joined++;
    rl_run_ready(r, c);
}

static bool check_rev(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m)
{
    struct otc *o = otc_of(r, c);
    if (!m->has_rev || m->rev != o->rev + 1) {
        char why[96];
        snprintf(why, sizeof why, "revision %" PRId64 " after %" PRId64, m->has_rev ? m->rev : -1, o->rev);
        broken(r, c, why);
        return false;
    }
    o->rev = m->rev;
    return true;
}

static void on_ack(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m, uint64_t now)
{
    struct otc *o = otc_of(r, c);
    if (!o->has_out) return broken(r, c, "ack with no op in flight");
    if (!check_rev(r, c, m)) return;
    r->st->ot_acks++;
    r->st->ot_edits_acked += o->out_edits;
    if (logging(r)) log_ack(r, c);
    if (rl_run_measured(r, o->out_sched)) rl_hist_record(&r->st->ack, now > o->out_sched ? now - o->out_sched : 0);
    o->ring[o->ring_next++ % ACK_RING] = (struct acked){ o->rev, o->out_sched };
    o->has_out = false;
    if (o->has_buf) {
        ot_op_swap(&o->out, &o->buf);
        o->out_sched = o->buf_sched;
        o->out_edits = o->buf_edits;
        o->has_buf = false;
        send_out(r, c);
    }
}

/* The scheduled time of the op `from` made revision `rev`, and its author's connection, if
 * `from` is one of ours. */
static bool sched_of(struct rl_run *r, const struct rl_conn *c, const struct rl_chatmsg *m, int64_t rev, uint64_t *sched,
                     const struct rl_conn **author)
{
    struct ots *s = r->scd;
    if (m->from_tok < 0 || !json_is_string(&m->doc, m->from_tok)) return false;
    const char *from = json_raw(&m->doc, m->from_tok);
    size_t fl = json_raw_len(&m->doc, m->from_tok);
    const struct rl_room *rm = &r->rooms[c->room];
    for (uint32_t i = 0; i < rm->size; i++) {
        struct rl_conn *p = &r->conns[rm->first + i];
        if (p == c || strlen(p->self) != fl || memcmp(p->self, from, fl)) continue;
        struct otc *po = &s->c[p->idx];
        *author = p;
        for (uint32_t k = 0; k < ACK_RING; k++)
            if (po->ring[k].rev == rev && po->ring[k].sched) {
                *sched = po->ring[k].sched;
                return true;
            }
        if (po->has_out) {             /* its ack has not been read yet */
            *sched = po->out_sched;
            return true;
        }
        return false;
    }
    return false;
}

static void on_op(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m, uint64_t now)
{
    struct ots *s = r->scd;
    struct otc *o = otc_of(r, c);
    if (m->op_tok < 0 || ot_op_from_json(&s->edit, &m->doc, m->op_tok)) return broken(r, c, "unparsable op from the server");
    if (!check_rev(r, c, m)) return;
    if (logging(r)) {
        const char *from;
        size_t fl;
        if (!get_string(s, &m->doc, m->from_tok, &from, &fl)) {
            from = "";
            fl = 0;
        }
        log_op(r, c, m->rev, from, fl, &s->edit);
    }
    /* ot.js Client.applyServer */
    ot_op *apply = &s->edit;
    if (o->has_out) {
        if (ot_transform(&o->out, &s->edit, &s->t1, &s->t2)) return broken(r, c, "transform against the outstanding op failed");
        ot_op_swap(&o->out, &s->t1);
        apply = &s->t2;
        if (o->has_buf) {
            if (ot_transform(&o->buf, &s->t2, &s->t1, &s->t3)) return broken(r, c, "transform against the buffer failed");
            ot_op_swap(&o->buf, &s->t1);
            apply = &s->t3;
        }
    }
    if (ot_apply(apply, &o->doc, &s->tmp)) return broken(r, c, "a server op does not apply to the document");
    ot_text_swap(&o->doc, &s->tmp);
    r->st->ot_remote_ops++;
    uint64_t sched;
    const struct rl_conn *author = NULL;
    if (sched_of(r, c, m, m->rev, &sched, &author)) {
        s->applied_all++;
        if (rl_run_measured(r, sched)) r->st->received++;
        rl_run_latency(r, sched, now);
        if (author->target != c->target) rl_run_latency_cross(r, sched, now);
    } else {
        r->st->other_msgs++;           /* an editor that is not ours */
    }
}

static void ot_message(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *d, size_t n)
{
    uint64_t now = rl_now_ns();
    struct rl_chatmsg m;
    if (!rl_chatmsg_read(r, opcode, d, n, &m)) return;
    switch (m.type) {
    case RL_MSG_JOINED: on_joined(r, c, &m); break;
    case RL_MSG_ACK: if (c->sc_state == OS_JOINED) on_ack(r, c, &m, now); break;
    case RL_MSG_OP: if (c->sc_state == OS_JOINED) on_op(r, c, &m, now); break;
    case RL_MSG_ERROR:
        rl_stats_server_error(r->st, m.code, strlen(m.code));
        if (c->sc_state == OS_JOINED) {
            char why[80];
            snprintf(why, sizeof why, "server error %s", m.code);
            broken(r, c, why);
        }
        break;
    default: r->st->other_msgs++; break;
    }
}

static bool ot_drained(struct rl_run *r)
{
    struct ots *s = r->scd;
    for (uint32_t i = 0; i < r->nconns; i++)
        if (r->conns[i].sc_state == OS_JOINED && (s->c[i].has_out || s->c[i].has_buf)) return false;
    return s->applied_all >= s->expected_all;
}

/* ---- convergence ---- */

/* One instance's copy of a document (GET /rooms/<room> there). */
struct server_doc {
    int status;                   /* HTTP status, or -errno (-EPROTO: not the JSON expected) */
    int64_t rev;
    char *doc;                    /* owned */
    size_t len;
};

static void fetch_doc(struct rl_run *r, uint32_t t, const char *path, struct server_doc *out)
{
    struct ots *s = r->scd;
    const struct rl_target *tg = &r->o->targets[t];
    char host[96];
    snprintf(host, sizeof host, "%s:%u", tg->host, (unsigned)tg->port);
    char *body = NULL;
    size_t blen = 0;
    *out = (struct server_doc){ .status = rl_http_get(&r->dst[t], host, path, 5000, &body, &blen), .rev = -1 };
    if (out->status == 200) {
        json_doc d;
        jsmntok_t *toks = NULL;
        int ntoks = 64, rc = JSON_EINVAL;
        do {
            ntoks *= 4;
            jsmntok_t *tk = realloc(toks, (size_t)ntoks * sizeof *tk);
            if (!tk) break;
            toks = tk;
        } while ((rc = json_parse(&d, body, blen, toks, ntoks)) == JSON_ETOOMANY && ntoks < (1 << 22));
        int dt = -1, rt = -1;
        if (toks && rc == JSON_OK && json_is_object(&d, 0)) {
            dt = json_obj_get(&d, 0, "doc");
            rt = json_obj_get(&d, 0, "rev");
        }
        const char *doc;
        size_t dlen;
        if (dt < 0 || rt < 0 || !json_get_int64(&d, rt, &out->rev) || !get_string(s, &d, dt, &doc, &dlen)) {
            out->status = -EPROTO;
        } else if (!(out->doc = malloc(dlen + 1))) {
            out->status = -ENOMEM;
        } else {
            memcpy(out->doc, doc, dlen);
            out->len = dlen;
        }
        free(toks);
    }
    free(body);
}

static bool same_doc(const struct server_doc *a, const struct server_doc *b)
{
    return a->rev == b->rev && a->len == b->len && !memcmp(a->doc, b->doc, a->len);
}

/* "the server" with one instance, "instance 1 (ws://...)" with several. */
static const char *instance_name(const struct rl_run *r, uint32_t t, char *buf, size_t cap)
{
    if (r->o->ntargets <= 1) return "the server";
    snprintf(buf, cap, "instance %u (%s)", t, r->o->targets[t].url);
    return buf;
}

/* The room's document on every instance (GET /rooms/<room>) must equal every editor's, and
 * the instances' copies each other's. Counted per instance: converged, mismatched (or not
 * fetched), or not held (404 where none of the room's editors is connected: an instance
 * need not hold a room nobody on it joined). */
static int check_room(struct rl_run *r, struct rl_room *rm)
{
    struct ots *s = r->scd;
    const struct rl_opts *ro = r->o;
    uint32_t nt = ro->ntargets;
    char path[96], name[64], in[320];
    snprintf(name, sizeof name, "%s%" PRIu32, ro->room_prefix, rm->global);
    snprintf(path, sizeof path, "/rooms/%s", name);
    r->st->ot_docs++;
    uint32_t members_on[RL_MAX_TARGETS] = { 0 };
    for (uint32_t i = 0; i < rm->size; i++) members_on[r->conns[rm->first + i].target]++;
    struct server_doc sd[RL_MAX_TARGETS];
    int ref = -1;                 /* the first instance whose copy was fetched */
    int bad = 0;
    for (uint32_t t = 0; t < nt; t++) {
        fetch_doc(r, t, path, &sd[t]);
        struct rl_target_stats *ts = &r->st->targets[t];
        if (sd[t].status == 404 && nt > 1 && !members_on[t]) {
            ts->ot_not_held++;
            continue;
        }
        int bad_t = 0;
        if (sd[t].status != 200) {
            fprintf(stderr, "ringload: ot: GET %s from %s: %s %d\n", path, instance_name(r, t, in, sizeof in),
                    sd[t].status < 0 ? strerror(-sd[t].status) : "HTTP", sd[t].status);
            bad_t = 1;
        } else if (ref < 0) {
            ref = (int)t;
        } else if (!same_doc(&sd[t], &sd[ref])) {
            bad_t = 1;
            if (s->mismatches_reported++ < MAX_REPORTED_MISMATCHES) {
                char in2[320];
                fprintf(stderr, "ringload: ot: room %s: %s has rev %" PRId64 ", %zu bytes; %s has rev %" PRId64
                        ", %zu bytes\n", name, instance_name(r, t, in, sizeof in), sd[t].rev, sd[t].len,
                        instance_name(r, (uint32_t)ref, in2, sizeof in2), sd[ref].rev, sd[ref].len);
            }
        }
        for (uint32_t i = 0; !bad_t && i < rm->size; i++) {
            struct rl_conn *c = &r->conns[rm->first + i];
            if (c->sc_state == OS_NONE || c->sc_state == OS_JOINING) continue;
            struct otc *o = &s->c[c->idx];
            bool same = c->sc_state == OS_JOINED && !o->has_out && !o->has_buf && o->rev == sd[t].rev &&
                        o->doc.bytes == sd[t].len && !memcmp(o->doc.utf8, sd[t].doc, sd[t].len);
            if (same) continue;
            bad_t = 1;
            if (s->mismatches_reported++ < MAX_REPORTED_MISMATCHES) {
                char on[48] = "";
                if (nt > 1) snprintf(on, sizeof on, " on instance %u", c->target);
                fprintf(stderr, "ringload: ot: room %s: connection %" PRIu32 " (%s)%s has rev %" PRId64 ", %zu bytes%s%s; "
                        "%s has rev %" PRId64 ", %zu bytes\n", name, rl_run_gid(r, c), c->self, on, o->rev, o->doc.bytes,
                        o->has_out ? ", an op in flight" : "", c->sc_state == OS_BROKEN ? ", broken" : "",
                        instance_name(r, t, in, sizeof in), sd[t].rev, sd[t].len);
            }
        }
        if (bad_t) ts->ot_mismatches++;
        else ts->ot_docs_ok++;
        bad |= bad_t;
    }
    if (ref < 0) bad = 1;         /* no instance has it */
    for (uint32_t t = 0; t < nt; t++) free(sd[t].doc);
    if (bad) r->st->ot_mismatches++;
    else r->st->ot_docs_ok++;
    return bad;
}

static int ot_finish(struct rl_run *r)
{
    int bad = 0;
    struct ots *s = r->scd;
    for (uint32_t j = 0; j < r->nrooms; j++) bad |= check_room(r, &r->rooms[j]);
    return bad | s->log_failed;
}

const struct rl_scenario rl_scenario_ot = {
    .name = "ot",
    .uses_rooms = true,
    .has_loss = true,
    .setup = ot_setup,
    .on_open = ot_open,
    .on_message = ot_message,
    .on_tick = ot_tick,
    .on_closed = ot_closed,
    .drained = ot_drained,
    .finish = ot_finish,
    .fini = ot_fini,
};
