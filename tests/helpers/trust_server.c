/* trust_server.c: a small WebSocket server with known faults, to check that ringload reports
 * what really happened (tests/integration/test_ringload_trust.py).
 *
 * Single-threaded, epoll, regular fds. It serves /echo (every data message back to its
 * sender) and /ws (a subset of protocol v1: `join` -> `joined` with a `self` id; `chat` ->
 * `chat` {from,text,ts,seq,id} to every member of the room, sender included; `cursor` ->
 * `cursor` to the others, not coalesced; `op` {rev,op} -> ot.js Server.receiveOperation over
 * the room's document (src/ot.h), `ack` {rev} to the sender and `op` {rev,op,from} to the
 * others; `leave`) and GET /rooms/<room> -> {room,rev,doc,participants:[]}. Framing and the
 * upgrade reuse ringroom's ws.c and http.c; JSON goes through json.h. --ot-diverge adds one
 * character to every document that GET /rooms/ reports (a server whose clients cannot
 * converge), so the test can check that ringload notices. Faults are decided per incoming data message, in
 * arrival order: --drop-fraction F drops it (echo: no reply; chat: no delivery at all),
 * --delay-fraction F --delay-ms N holds it back N ms (all its deliveries). --pattern even
 * (default) picks exactly floor(n*F) of the first n messages of each connection, spread
 * evenly, so no prefix of any sender's stream (and so of the whole run) holds more than the
 * fraction; --pattern random picks each message with probability F from a generator seeded
 * with --seed. It prints "listening PORT" on stdout once
 * ready and exits 0 on SIGTERM/SIGINT. Owns every connection, room and delayed message.
 */
#include "http.h"
#include "json.h"
#include "ot.h"
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000
#define IN_MAX (1u << 20)
#define MAX_ROOMS 4096

enum tconn_state { TC_FREE, TC_HTTP, TC_WS, TC_CLOSING };

struct tconn {
    int fd;
    uint32_t gen;
    uint8_t state;
    bool echo;                    /* /echo, else /ws */
    int room;                     /* -1 when not joined */
    uint32_t id;                  /* participant number */
    uint64_t n_drop, n_delay;     /* messages seen by the drop and delay selectors */
    struct ws_reader rd;
    uint8_t *in;                  /* unparsed HTTP input */
    size_t in_len;
    uint8_t *out;                 /* unsent output */
    size_t out_len, out_cap, out_off;
};

struct troom {
    char name[129];
    uint32_t *members;            /* connection indexes */
    uint32_t n, cap;
    uint64_t seq;
    ot_text doc;                  /* the document: revision = nhist */
    ot_op *hist;                  /* every op applied, in revision order */
    size_t nhist, hcap;
};

struct delayed {
    uint64_t due_ns;
    uint32_t conn, gen;           /* echo: the sender */
    int room;                     /* chat/cursor: the room (-1 for echo) */
    uint32_t except;              /* cursor: not to this connection (UINT32_MAX: none) */
    uint8_t *frame;
    size_t len;
};

struct ts {
    int ep, lfd, sfd;
    struct tconn *c;
    struct troom rooms[MAX_ROOMS];
    uint32_t nrooms;
    struct delayed *q;            /* FIFO: every delay is the same length */
    size_t qhead, qlen, qcap;
    uint64_t drop_ppm, delay_ppm; /* fault fractions in parts per million */
    uint64_t delay_ns;
    bool random;
    bool ot_diverge;
    uint64_t rng;
    ot_op op, t1, t2;             /* scratch for receiveOperation */
    ot_text tmp;
    jw w;
    uint32_t next_id;
    struct ws_limits lim;
    struct http_limits hlim;
    jsmntok_t toks[4096];
    uint64_t msgs, dropped, delayed_n;
};

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t rnd(struct ts *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* even: a connection's message k (1-based) is picked iff floor(k*f) > floor((k-1)*f). */
static bool pick(struct ts *s, uint64_t ppm, uint64_t *count)
{
    if (!ppm) return false;
    uint64_t k = ++*count;
    if (s->random) return rnd(s) % 1000000u < ppm;
    return k * ppm / 1000000u > (k - 1) * ppm / 1000000u;
}

/* ---- output ---- */

static void kill_conn(struct ts *s, uint32_t i);

static void flush_out(struct ts *s, uint32_t i)
{
    struct tconn *c = &s->c[i];
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) c->out_off += (size_t)n;
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        else return kill_conn(s, i);
    }
    c->out_off = c->out_len = 0;
    if (c->state == TC_CLOSING) {
        shutdown(c->fd, SHUT_WR);
    }
}

static void queue(struct ts *s, uint32_t i, const void *a, size_t alen, const void *b, size_t blen)
{
    struct tconn *c = &s->c[i];
    if (c->state == TC_FREE) return;
    size_t need = c->out_len + alen + blen;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < need) cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (!p) return kill_conn(s, i);
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, a, alen);
    if (blen) memcpy(c->out + c->out_len + alen, b, blen);
    c->out_len += alen + blen;
    flush_out(s, i);
}

static void send_frame(struct ts *s, uint32_t i, uint8_t op, const void *p, size_t n)
{
    if (s->c[i].state != TC_WS) return;
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_frame_header(h, op, true, n, NULL);
    queue(s, i, h, hl, p, n);
}

static void send_close(struct ts *s, uint32_t i, uint16_t code)
{
    struct tconn *c = &s->c[i];
    if (c->state != TC_WS) return;
    uint8_t p[WS_MAX_CONTROL];
    size_t n = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(p, code, "");
    send_frame(s, i, WS_OP_CLOSE, p, n);
    if (c->state == TC_WS) {
        c->state = TC_CLOSING;
        if (c->out_len == 0) shutdown(c->fd, SHUT_WR);
    }
}

/* ---- rooms ---- */

static void room_leave(struct ts *s, uint32_t i)
{
    struct tconn *c = &s->c[i];
    if (c->room < 0) return;
    struct troom *r = &s->rooms[c->room];
    for (uint32_t k = 0; k < r->n; k++)
        if (r->members[k] == i) {
            r->members[k] = r->members[--r->n];
            break;
        }
    c->room = -1;
}

static int room_find(struct ts *s, const char *name, size_t n)
{
    for (uint32_t k = 0; k < s->nrooms; k++)
        if (strlen(s->rooms[k].name) == n && !memcmp(s->rooms[k].name, name, n)) return (int)k;
    if (s->nrooms == MAX_ROOMS || n >= sizeof s->rooms[0].name) return -1;
    struct troom *r = &s->rooms[s->nrooms];
    memcpy(r->name, name, n);
    r->name[n] = '\0';
    return (int)s->nrooms++;
}

static void broadcast(struct ts *s, int room, uint32_t except, const uint8_t *frame, size_t len)
{
    if (room < 0 || (uint32_t)room >= s->nrooms) return;
    struct troom *r = &s->rooms[room];
    for (uint32_t k = 0; k < r->n; k++)
        if (r->members[k] != except && s->c[r->members[k]].state == TC_WS) queue(s, r->members[k], frame, len, NULL, 0);
}

/* ---- faults ---- */

/* Decides the fate of one data message. Returns true if it goes out now. */
static bool fate(struct ts *s, uint32_t conn, int room, uint32_t except, const uint8_t *frame, size_t len)
{
    s->msgs++;
    bool drop = pick(s, s->drop_ppm, &s->c[conn].n_drop);
    bool delay = pick(s, s->delay_ppm, &s->c[conn].n_delay);
    if (drop) {
        s->dropped++;
        return false;
    }
    if (!delay) return true;
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 1024;
        struct delayed *q = malloc(cap * sizeof *q);
        if (!q) return true;
        for (size_t k = 0; k < s->qlen; k++) q[k] = s->q[(s->qhead + k) % s->qcap];
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    struct delayed *d = &s->q[(s->qhead + s->qlen) % s->qcap];
    d->frame = malloc(len);
    if (!d->frame) return true;
    memcpy(d->frame, frame, len);
    d->len = len;
    d->due_ns = now_ns() + s->delay_ns;
    d->conn = conn;
    d->gen = s->c[conn].gen;
    d->room = room;
    d->except = except;
    s->qlen++;
    s->delayed_n++;
    return false;
}

static void release_due(struct ts *s)
{
    uint64_t now = now_ns();
    while (s->qlen && s->q[s->qhead].due_ns <= now) {
        struct delayed *d = &s->q[s->qhead];
        if (d->room >= 0) broadcast(s, d->room, d->except, d->frame, d->len);
        else if (s->c[d->conn].gen == d->gen && s->c[d->conn].state == TC_WS) queue(s, d->conn, d->frame, d->len, NULL, 0);
        free(d->frame);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
}

/* ---- protocol ---- */

static void reply_error(struct ts *s, uint32_t i, const char *code, const char *ref)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"trust_server\",\"ref\":\"%s\"}", code, ref);
    send_frame(s, i, WS_OP_TEXT, buf, (size_t)n);
}

/* ot.js Server.receiveOperation(rev, op): transform against every op since rev, apply,
 * append; ack to the sender, the op to the others (through the fault selectors). */
static void on_op(struct ts *s, uint32_t i, const json_doc *d)
{
    struct tconn *c = &s->c[i];
    struct troom *r = &s->rooms[c->room];
    int rt = json_obj_get(d, 0, "rev"), ot = json_obj_get(d, 0, "op");
    int64_t rev;
    if (rt < 0 || ot < 0 || !json_get_int64(d, rt, &rev) || ot_op_from_json(&s->op, d, ot))
        return reply_error(s, i, "bad-op", "op");
    if (rev < 0 || (uint64_t)rev > r->nhist) return reply_error(s, i, "rev-future", "op");
    for (size_t k = (size_t)rev; k < r->nhist; k++) {
        if (ot_transform(&s->op, &r->hist[k], &s->t1, NULL)) return reply_error(s, i, "bad-op", "op");
        ot_op_swap(&s->op, &s->t1);
    }
    if (ot_apply(&s->op, &r->doc, &s->tmp)) return reply_error(s, i, "bad-op", "op");
    if (r->nhist == r->hcap) {
        size_t cap = r->hcap ? r->hcap * 2 : 64;
        ot_op *h = realloc(r->hist, cap * sizeof *h);
        if (!h) return reply_error(s, i, "internal", "op");
        r->hist = h;
        r->hcap = cap;
    }
    ot_text_swap(&r->doc, &s->tmp);
    ot_op_init(&r->hist[r->nhist]);
    ot_op_swap(&r->hist[r->nhist], &s->op);
    r->nhist++;
    /* the ack goes through the fault selectors too: with --delay-fraction 1 every ack and op
     * is held back the same time, in order (a fraction below 1 would reorder a document's
     * ops, which no real server does: use 0 or 1 with `op`) */
    char ack[64];
    int n = snprintf(ack, sizeof ack, "{\"type\":\"ack\",\"rev\":%zu}", r->nhist);
    uint8_t ackf[WS_MAX_HEADER + sizeof ack];
    size_t ahl = ws_frame_header(ackf, WS_OP_TEXT, true, (uint64_t)n, NULL);
    memcpy(ackf + ahl, ack, (size_t)n);
    if (fate(s, i, -1, UINT32_MAX, ackf, ahl + (size_t)n)) queue(s, i, ackf, ahl + (size_t)n, NULL, 0);
    jw *w = &s->w;
    jw_reset(w);
    static const char pad[WS_MAX_HEADER];
    jw_raw(w, pad, sizeof pad);             /* room for the frame header in front */
    jw_lit(w, "{\"type\":\"op\",\"rev\":");
    jw_uint(w, r->nhist);
    jw_lit(w, ",\"op\":");
    ot_op_to_json(&r->hist[r->nhist - 1], w);
    n = snprintf(ack, sizeof ack, ",\"from\":\"p%" PRIu32 "\"}", c->id);
    jw_raw(w, ack, (size_t)n);
    if (w->oom) return;
    size_t body = w->len - WS_MAX_HEADER;
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_frame_header(h, WS_OP_TEXT, true, body, NULL);
    uint8_t *start = (uint8_t *)w->buf + WS_MAX_HEADER - hl;
    memcpy(start, h, hl);
    if (fate(s, i, c->room, i, start, hl + body)) broadcast(s, c->room, i, start, hl + body);
}

static void on_ws_json(struct ts *s, uint32_t i, const uint8_t *data, size_t len)
{
    struct tconn *c = &s->c[i];
    json_doc d;
    if (json_parse(&d, (const char *)data, len, s->toks, 4096) != JSON_OK || !json_is_object(&d, 0))
        return reply_error(s, i, "bad-json", "");
    int t = json_obj_get(&d, 0, "type");
    if (t < 0 || !json_is_string(&d, t)) return reply_error(s, i, "bad-message", "");
    if (json_str_eq(&d, t, "join")) {
        int rt = json_obj_get(&d, 0, "room");
        if (rt < 0 || !json_is_string(&d, rt) || json_raw_len(&d, rt) == 0) return reply_error(s, i, "bad-message", "join");
        room_leave(s, i);
        int room = room_find(s, json_raw(&d, rt), json_raw_len(&d, rt));
        if (room < 0) return reply_error(s, i, "too-many-rooms", "join");
        struct troom *r = &s->rooms[room];
        if (r->n == r->cap) {
            uint32_t cap = r->cap ? r->cap * 2 : 16;
            uint32_t *m = realloc(r->members, cap * sizeof *m);
            if (!m) return reply_error(s, i, "internal", "join");
            r->members = m;
            r->cap = cap;
        }
        r->members[r->n++] = i;
        c->room = room;
        jw *w = &s->w;
        jw_reset(w);
        char self[32];
        int sn = snprintf(self, sizeof self, "p%" PRIu32, c->id);
        jw_lit(w, "{\"type\":\"joined\",\"room\":");
        jw_str(w, r->name, strlen(r->name));
        jw_lit(w, ",\"self\":");
        jw_str(w, self, (size_t)sn);
        jw_lit(w, ",\"rev\":");
        jw_uint(w, r->nhist);
        jw_lit(w, ",\"doc\":");
        jw_str(w, r->doc.utf8 ? r->doc.utf8 : "", r->doc.bytes);
        jw_lit(w, ",\"participants\":[],\"elements\":[]}");
        if (!w->oom) send_frame(s, i, WS_OP_TEXT, w->buf, w->len);
    } else if (json_str_eq(&d, t, "chat")) {
        if (c->room < 0) return reply_error(s, i, "not-joined", "chat");
        int tt = json_obj_get(&d, 0, "text"), it = json_obj_get(&d, 0, "id");
        if (tt < 0 || !json_is_string(&d, tt)) return reply_error(s, i, "bad-message", "chat");
        struct troom *r = &s->rooms[c->room];
        size_t cap = json_raw_len(&d, tt) + (it >= 0 ? json_raw_len(&d, it) : 0) + 256;
        uint8_t *frame = malloc(cap + WS_MAX_HEADER);
        if (!frame) return;
        char *body = (char *)frame + WS_MAX_HEADER;
        int n = snprintf(body, cap, "{\"type\":\"chat\",\"from\":\"p%" PRIu32 "\",\"text\":\"%.*s\",\"ts\":%" PRIu64 ",\"seq\":%" PRIu64,
                         c->id, (int)json_raw_len(&d, tt), json_raw(&d, tt), now_ns() / 1000000, ++r->seq);
        if (it >= 0 && json_is_string(&d, it))
            n += snprintf(body + n, cap - (size_t)n, ",\"id\":\"%.*s\"", (int)json_raw_len(&d, it), json_raw(&d, it));
        body[n++] = '}';
        uint8_t h[WS_MAX_HEADER];
        size_t hl = ws_frame_header(h, WS_OP_TEXT, true, (uint64_t)n, NULL);
        uint8_t *start = frame + WS_MAX_HEADER - hl;
        memcpy(start, h, hl);
        if (fate(s, i, c->room, UINT32_MAX, start, hl + (size_t)n)) broadcast(s, c->room, UINT32_MAX, start, hl + (size_t)n);
        free(frame);
    } else if (json_str_eq(&d, t, "cursor")) {
        if (c->room < 0) return reply_error(s, i, "not-joined", "cursor");
        int pt = json_obj_get(&d, 0, "pos"), st = json_obj_get(&d, 0, "sel");
        if (pt < 0) return reply_error(s, i, "bad-message", "cursor");
        char body[512];
        int n = snprintf(body, sizeof body, "{\"type\":\"cursor\",\"from\":\"p%" PRIu32 "\",\"pos\":%.*s,\"sel\":%.*s}", c->id,
                         (int)json_raw_len(&d, pt), json_raw(&d, pt), st >= 0 ? (int)json_raw_len(&d, st) : 4,
                         st >= 0 ? json_raw(&d, st) : "null");
        if (n <= 0 || (size_t)n >= sizeof body) return reply_error(s, i, "too-large", "cursor");
        uint8_t frame[WS_MAX_HEADER + sizeof body];
        size_t hl = ws_frame_header(frame, WS_OP_TEXT, true, (uint64_t)n, NULL);
        memcpy(frame + hl, body, (size_t)n);
        if (fate(s, i, c->room, i, frame, hl + (size_t)n)) broadcast(s, c->room, i, frame, hl + (size_t)n);
    } else if (json_str_eq(&d, t, "op")) {
        if (c->room < 0) return reply_error(s, i, "not-joined", "op");
        on_op(s, i, &d);
    } else if (json_str_eq(&d, t, "leave")) {
        room_leave(s, i);
    } else {
        reply_error(s, i, "unknown-type", "");
    }
}

static void on_ws_message(struct ts *s, uint32_t i, const struct ws_event *ev)
{
    struct tconn *c = &s->c[i];
    if (c->echo) {
        uint8_t h[WS_MAX_HEADER];
        size_t hl = ws_frame_header(h, ev->opcode, true, ev->len, NULL);
        uint8_t *frame = malloc(hl + ev->len);
        if (!frame) return;
        memcpy(frame, h, hl);
        memcpy(frame + hl, ev->data, ev->len);
        if (fate(s, i, -1, UINT32_MAX, frame, hl + ev->len)) queue(s, i, frame, hl + ev->len, NULL, 0);
        free(frame);
        return;
    }
    if (ev->opcode != WS_OP_TEXT) return reply_error(s, i, "bad-json", "");
    on_ws_json(s, i, ev->data, ev->len);
}

static void ws_input(struct ts *s, uint32_t i, uint8_t *data, size_t len)
{
    struct tconn *c = &s->c[i];
    while (len && (c->state == TC_WS || c->state == TC_CLOSING)) {
        size_t used;
        struct ws_event ev;
        ws_reader_next(&c->rd, &s->lim, data, len, &used, &ev);
        data += used;
        len -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE: break;
        case WS_EV_MESSAGE: if (c->state == TC_WS) on_ws_message(s, i, &ev); break;
        case WS_EV_PING: send_frame(s, i, WS_OP_PONG, ev.data, ev.len); break;
        case WS_EV_PONG: break;
        case WS_EV_CLOSE:
            if (c->state == TC_WS) send_close(s, i, ev.code);
            return;
        case WS_EV_ERROR:
            send_close(s, i, ev.code);
            return;
        }
        if (s->c[i].state == TC_FREE) return;
    }
}

/* GET /rooms/<room>: {room,rev,doc,participants}; 404 for an unknown room. */
static void room_describe(struct ts *s, uint32_t i, struct http_slice name)
{
    struct tconn *c = &s->c[i];
    int k = -1;
    for (uint32_t j = 0; j < s->nrooms; j++)
        if (strlen(s->rooms[j].name) == name.n && !memcmp(s->rooms[j].name, name.p, name.n)) k = (int)j;
    jw *w = &s->w;
    jw_reset(w);
    if (k >= 0) {
        struct troom *r = &s->rooms[k];
        jw_lit(w, "{\"room\":");
        jw_str(w, r->name, strlen(r->name));
        jw_lit(w, ",\"rev\":");
        jw_uint(w, r->nhist);
        jw_lit(w, ",\"doc\":");
        if (s->ot_diverge) {
            char *t = malloc(r->doc.bytes + 1);
            if (t) {
                if (r->doc.bytes) memcpy(t, r->doc.utf8, r->doc.bytes);
                t[r->doc.bytes] = '!';
                jw_str(w, t, r->doc.bytes + 1);
                free(t);
            }
        } else {
            jw_str(w, r->doc.utf8 ? r->doc.utf8 : "", r->doc.bytes);
        }
        jw_lit(w, ",\"participants\":[]}");
    }
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", k >= 0 ? "200 OK" : "404 Not Found", k >= 0 ? w->len : 0);
    c->state = TC_CLOSING;
    queue(s, i, head, (size_t)n, k >= 0 ? w->buf : NULL, k >= 0 ? w->len : 0);
}

static void http_input(struct ts *s, uint32_t i)
{
    struct tconn *c = &s->c[i];
    struct http_request req;
    long r = http_parse_request((const char *)c->in, c->in_len, &s->hlim, &req);
    if (r == 0) return;
    char accept[WS_ACCEPT_LEN + 1];
    struct http_slice arg;
    if (r > 0 && http_path_match(req.path, "/rooms/", &arg)) return room_describe(s, i, arg);
    bool ws = r > 0 && http_path_match(req.path, "/ws", &arg), echo = r > 0 && http_path_match(req.path, "/echo", &arg);
    if (!(ws || echo) || http_ws_handshake_check(&req, accept)) {
        static const char resp[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        c->state = TC_CLOSING;
        queue(s, i, resp, sizeof resp - 1, NULL, 0);
        return;
    }
    char resp[256];
    size_t n = http_upgrade_response(resp, sizeof resp, accept);
    c->state = TC_WS;
    c->echo = echo;
    queue(s, i, resp, n, NULL, 0);
    size_t rest = c->in_len - (size_t)r;
    uint8_t *more = c->in + r;
    if (rest && c->state == TC_WS) {
        uint8_t *copy = malloc(rest);
        if (copy) {
            memcpy(copy, more, rest);
            free(c->in);
            c->in = NULL;
            c->in_len = 0;
            ws_input(s, i, copy, rest);
            free(copy);
            return;
        }
    }
    free(c->in);
    c->in = NULL;
    c->in_len = 0;
}

/* ---- connections ---- */

static void kill_conn(struct ts *s, uint32_t i)
{
    struct tconn *c = &s->c[i];
    if (c->state == TC_FREE) return;
    room_leave(s, i);
    close(c->fd);
    ws_reader_reset(&c->rd);
    free(c->in);
    free(c->out);
    uint32_t gen = c->gen + 1;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    c->fd = -1;
    c->room = -1;
}

static void on_readable(struct ts *s, uint32_t i)
{
    uint8_t buf[65536];
    for (;;) {
        struct tconn *c = &s->c[i];
        if (c->state == TC_FREE) return;
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return kill_conn(s, i);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            return kill_conn(s, i);
        }
        if (c->state == TC_HTTP) {
            if (c->in_len + (size_t)n > IN_MAX) return kill_conn(s, i);
            uint8_t *p = realloc(c->in, c->in_len + (size_t)n);
            if (!p) return kill_conn(s, i);
            c->in = p;
            memcpy(c->in + c->in_len, buf, (size_t)n);
            c->in_len += (size_t)n;
            http_input(s, i);
        } else {
            ws_input(s, i, buf, (size_t)n);
        }
    }
}

static void on_accept(struct ts *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        uint32_t i = 0;
        while (i < MAX_CONNS && s->c[i].state != TC_FREE) i++;
        if (i == MAX_CONNS) {
            close(fd);
            continue;
        }
        struct tconn *c = &s->c[i];
        c->fd = fd;
        c->state = TC_HTTP;
        c->room = -1;
        c->id = ++s->next_id;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = i };
        if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) kill_conn(s, i);
    }
}

/* ---- main ---- */

static bool parse_fraction(const char *v, uint64_t *ppm)
{
    char *end;
    double f = strtod(v, &end);
    if (*end || f < 0 || f > 1) return false;
    *ppm = (uint64_t)(f * 1e6 + 0.5);
    return true;
}

static int usage(void)
{
    fprintf(stderr, "usage: trust_server [--listen 127.0.0.1:PORT] [--delay-fraction F --delay-ms N] "
            "[--drop-fraction F] [--pattern even|random] [--seed N] [--ot-diverge]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct ts *s = calloc(1, sizeof *s);          /* the server's one context (large: the room table) */
    if (!s) return 1;
    char host[64] = "127.0.0.1";
    unsigned port = 0;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v && strcmp(a, "--ot-diverge")) return usage();
        if (!strcmp(a, "--listen")) {
            const char *colon = strrchr(v, ':');
            if (!colon || (size_t)(colon - v) >= sizeof host) return usage();
            memcpy(host, v, (size_t)(colon - v));
            host[colon - v] = '\0';
            port = (unsigned)strtoul(colon + 1, NULL, 10);
        } else if (!strcmp(a, "--delay-fraction")) {
            if (!parse_fraction(v, &s->delay_ppm)) return usage();
        } else if (!strcmp(a, "--drop-fraction")) {
            if (!parse_fraction(v, &s->drop_ppm)) return usage();
        } else if (!strcmp(a, "--delay-ms")) {
            s->delay_ns = strtoull(v, NULL, 10) * 1000000ull;
        } else if (!strcmp(a, "--pattern")) {
            if (!strcmp(v, "random")) s->random = true;
            else if (strcmp(v, "even")) return usage();
        } else if (!strcmp(a, "--ot-diverge")) {
            s->ot_diverge = true;
            continue;
        } else if (!strcmp(a, "--seed")) {
            seed = strtoull(v, NULL, 10);
        } else {
            return usage();
        }
        i++;
    }
    s->rng = seed * 0x9E3779B97F4A7C15ull | 1;
    s->lim = (struct ws_limits){ .max_frame = 16u << 20, .max_message = 16u << 20, .peer_masks = true };
    s->hlim = (struct http_limits){ .max_header_bytes = 8192, .max_body_bytes = 0 };
    ot_op_init(&s->op);
    ot_op_init(&s->t1);
    ot_op_init(&s->t2);
    ot_text_init(&s->tmp);
    jw_init(&s->w, 4096);
    s->c = calloc(MAX_CONNS, sizeof *s->c);
    if (!s->c) return 1;
    for (uint32_t i = 0; i < MAX_CONNS; i++) { s->c[i].fd = -1; s->c[i].room = -1; }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) ||
        listen(s->lfd, 4096)) {
        fprintf(stderr, "trust_server: cannot listen on %s:%u: %s\n", host, port, strerror(errno));
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev);
    ev.data.u64 = UINT64_MAX - 1;
    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->sfd, &ev);
    printf("listening %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);

    struct epoll_event evs[256];
    for (;;) {
        int timeout_ms = -1;
        if (s->qlen) {
            uint64_t now = now_ns(), due = s->q[s->qhead].due_ns;
            timeout_ms = due > now ? (int)((due - now + 999999) / 1000000) : 0;
        }
        int n = epoll_wait(s->ep, evs, 256, timeout_ms);
        if (n < 0 && errno != EINTR) break;
        bool stop = false;
        for (int k = 0; k < n; k++) {
            uint64_t id = evs[k].data.u64;
            if (id == UINT64_MAX) on_accept(s);
            else if (id == UINT64_MAX - 1) stop = true;
            else {
                uint32_t i = (uint32_t)id;
                if (evs[k].events & EPOLLOUT) flush_out(s, i);
                if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(s, i);
            }
        }
        release_due(s);
        if (stop) break;
    }
    fprintf(stderr, "trust_server: %" PRIu64 " messages, %" PRIu64 " dropped, %" PRIu64 " delayed\n", s->msgs, s->dropped,
            s->delayed_n);
    for (uint32_t i = 0; i < MAX_CONNS; i++) kill_conn(s, i);
    for (uint32_t k = 0; k < s->nrooms; k++) {
        struct troom *r = &s->rooms[k];
        free(r->members);
        for (size_t h = 0; h < r->nhist; h++) ot_op_free(&r->hist[h]);
        free(r->hist);
        ot_text_free(&r->doc);
    }
    ot_op_free(&s->op);
    ot_op_free(&s->t1);
    ot_op_free(&s->t2);
    ot_text_free(&s->tmp);
    jw_free(&s->w);
    for (size_t k = 0; k < s->qlen; k++) free(s->q[(s->qhead + k) % s->qcap].frame);
    free(s->q);
    free(s->c);
    free(s);
    return 0;
}
