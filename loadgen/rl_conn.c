/* rl_conn.c: the client side of RFC 6455 over an engine (see rl_conn.h). Framing and the
 * accept-key computation are ringroom's own ws.c; this file adds the client's masking, the
 * upgrade request and answer, and what a load generator counts (closes, errors). */
#include "rl_conn.h"

#include "rl_run.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HS_MAX 4096

bool rl_conn_is_open(const struct rl_conn *c)
{
    return c->state == RL_C_OPEN && !(c->flags & RL_CF_CLOSE_SENT);
}

void rl_conn_mark_dirty(struct rl_run *r, struct rl_conn *c)
{
    if (c->flags & RL_CF_DIRTY) return;
    c->flags |= RL_CF_DIRTY;
    c->link = r->dirty_head;
    r->dirty_head = c->idx;
}

void rl_conn_flush_dirty(struct rl_run *r)
{
    uint32_t i = r->dirty_head;
    r->dirty_head = RL_NIL;
    while (i != RL_NIL) {
        struct rl_conn *c = &r->conns[i];
        uint32_t next = c->link;
        c->flags &= (uint16_t)~RL_CF_DIRTY;
        c->link = RL_NIL;
        if (c->state != RL_C_DEAD && c->state != RL_C_FREE && c->out.len > c->out.off) r->ops->flush(r, c);
        i = next;
    }
}

static bool obuf_reserve(struct rl_obuf *b, size_t extra)
{
    size_t need = (size_t)b->len + extra;
    if (need <= b->cap) return true;
    if (need > UINT32_MAX) return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = (uint32_t)cap;
    return true;
}

void rl_conn_free(struct rl_conn *c)
{
    free(c->out.p);
    free(c->fly.p);
    free(c->hs);
    ws_reader_reset(&c->rd);
    c->out = (struct rl_obuf){ 0 };
    c->fly = (struct rl_obuf){ 0 };
    c->hs = NULL;
    c->hs_len = 0;
}

static void counted_open(struct rl_run *r, struct rl_conn *c, bool open)
{
    if (open && !(c->flags & RL_CF_COUNTED)) {
        c->flags |= RL_CF_COUNTED;
        if (++r->st->conns_open > r->st->conns_peak) r->st->conns_peak = r->st->conns_open;
    } else if (!open && (c->flags & RL_CF_COUNTED)) {
        c->flags &= (uint16_t)~RL_CF_COUNTED;
        r->st->conns_open--;
    }
}

void rl_conn_kill(struct rl_run *r, struct rl_conn *c)
{
    if (c->state == RL_C_DEAD || c->state == RL_C_FREE) return;
    bool was_ready = c->flags & RL_CF_READY;
    counted_open(r, c, false);
    c->state = RL_C_DEAD;
    r->ops->close(r, c);
    if (!was_ready && r->phase == RL_PH_CONNECT) rl_run_conn_failed(r, c);
}

bool rl_conn_open(struct rl_run *r, struct rl_conn *c, uint64_t sched)
{
    uint32_t gen = c->gen;
    uint32_t idx = c->idx, room = c->room;
    uint16_t member = c->member;
    uint32_t next_free = c->next_free;
    rl_conn_free(c);
    void *sc = c->sc;
    rl_seqwin *wins = c->wins;
    memset(c, 0, sizeof *c);
    c->idx = idx;
    c->gen = gen;
    c->room = room;
    c->member = member;
    c->next_free = next_free;
    c->sc = sc;
    c->wins = wins;
    c->fd = -1;
    c->link = RL_NIL;
    c->t_connect = sched;
    c->state = RL_C_CONNECTING;
    c->target = (uint8_t)rl_run_target(r, c);
    const struct rl_target *t = &r->o->targets[c->target];

    /* Sec-WebSocket-Key: base64 of 16 random bytes */
    uint8_t raw[16];
    uint64_t a = rl_rng_next(&r->rng), b = rl_rng_next(&r->rng);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    EVP_EncodeBlock((unsigned char *)c->key, raw, 16);

    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: ringload\r\n\r\n",
                     t->path, t->host, (unsigned)t->port, c->key);
    if (n < 0 || (size_t)n >= sizeof req || !obuf_reserve(&c->out, (size_t)n)) {
        c->state = RL_C_FREE;
        rl_run_error(r, RL_ERR_CONNECT);
        return false;
    }
    memcpy(c->out.p, req, (size_t)n);
    c->out.len = (uint32_t)n;
    r->st->connects_attempted++;
    r->st->targets[c->target].attempted++;
    const struct sockaddr_in *src = r->nsrcs > 1 ? &r->srcs[(r->base + c->idx) % r->nsrcs] : NULL;
    int err = r->ops->connect(r, c, src);
    if (err) {
        c->state = RL_C_FREE;
        rl_run_error(r, RL_ERR_CONNECT);
        if (r->phase == RL_PH_CONNECT) rl_run_conn_failed(r, c);
        return false;
    }
    return true;
}

void rl_conn_on_connected(struct rl_run *r, struct rl_conn *c, int err)
{
    if (c->state != RL_C_CONNECTING) return;
    if (err) {
        rl_run_error(r, RL_ERR_CONNECT);
        c->flags |= RL_CF_OURS;                        /* counted already */
        return rl_conn_kill(r, c);
    }
    c->state = RL_C_HANDSHAKE;
    rl_conn_mark_dirty(r, c);                          /* the upgrade request */
}

uint8_t *rl_conn_frame(struct rl_run *r, struct rl_conn *c, uint8_t opcode, size_t len)
{
    if (c->state != RL_C_OPEN && c->state != RL_C_CLOSING) return NULL;
    if (!obuf_reserve(&c->out, WS_MAX_HEADER + len)) {
        rl_run_error(r, RL_ERR_SEND);
        rl_conn_kill(r, c);
        return NULL;
    }
    uint64_t m = rl_rng_next(&r->rng);
    uint8_t mask[4];
    memcpy(mask, &m, 4);
    size_t hl = ws_frame_header(c->out.p + c->out.len, opcode, true, len, mask);
    c->out.len += (uint32_t)hl;
    return c->out.p + c->out.len;
}

void rl_conn_frame_done(struct rl_run *r, struct rl_conn *c, uint8_t *payload, size_t len)
{
    ws_mask(payload, len, payload - 4, 0);
    c->out.len += (uint32_t)len;
    r->st->bytes_sent += len;
    rl_conn_mark_dirty(r, c);
}

bool rl_conn_send(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const void *data, size_t len)
{
    uint8_t *p = rl_conn_frame(r, c, opcode, len);
    if (!p) return false;
    if (len) memcpy(p, data, len);
    rl_conn_frame_done(r, c, p, len);
    return true;
}

void rl_conn_close(struct rl_run *r, struct rl_conn *c, uint16_t code, bool ours)
{
    if (ours) c->flags |= RL_CF_OURS;
    if (c->state == RL_C_CONNECTING || c->state == RL_C_HANDSHAKE) return rl_conn_kill(r, c);
    if (c->state != RL_C_OPEN && c->state != RL_C_CLOSING) return;
    if (!(c->flags & RL_CF_CLOSE_SENT)) {
        uint8_t payload[WS_MAX_CONTROL];
        size_t n = ws_close_payload(payload, code, "");
        c->flags |= RL_CF_CLOSE_SENT;
        rl_conn_send(r, c, WS_OP_CLOSE, payload, n);
    }
    if (c->state == RL_C_OPEN) c->state = RL_C_CLOSING;
    /* the server answers with its close frame and then ends the TCP stream (EOF) */
}

/* The connection ended without our asking: count it. */
static void lost(struct rl_run *r, struct rl_conn *c, uint16_t code)
{
    if (c->flags & RL_CF_OURS) return;
    rl_stats_close(r->st, code);
    if (r->phase < RL_PH_CLOSE) {
        rl_run_error(r, RL_ERR_DISCONNECT);
        r->st->targets[c->target].lost++;
    }
    c->flags |= RL_CF_OURS;                         /* count once */
}

void rl_conn_on_eof(struct rl_run *r, struct rl_conn *c, int err)
{
    if (c->state == RL_C_DEAD || c->state == RL_C_FREE) return;
    if (c->state == RL_C_CONNECTING || c->state == RL_C_HANDSHAKE) {
        rl_run_error(r, c->state == RL_C_CONNECTING ? RL_ERR_CONNECT : RL_ERR_HANDSHAKE);
        c->flags |= RL_CF_OURS;
    } else if (!(c->flags & RL_CF_CLOSE_RCVD)) {
        if (err && err != -ECONNRESET && err != -EPIPE && err != -ECANCELED) rl_run_error(r, RL_ERR_SEND);
        lost(r, c, WS_CLOSE_ABNORMAL);
    }
    rl_conn_kill(r, c);
}

void rl_conn_released(struct rl_run *r, struct rl_conn *c)
{
    rl_conn_free(c);
    c->state = RL_C_FREE;
    c->gen++;
    c->flags = 0;
    if (r->sc->on_closed) r->sc->on_closed(r, c);
}

/* ---- the upgrade answer ---- */

static const char *find_crlfcrlf(const char *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return p + i + 1;
    return NULL;
}

/* Checks a complete answer head: 101 and the right Sec-WebSocket-Accept. */
static bool check_upgrade(const struct rl_conn *c, const char *head, size_t n)
{
    if (n < 12 || strncmp(head, "HTTP/1.1 101", 12)) return false;
    char want[WS_ACCEPT_LEN + 1];
    if (!ws_accept_key(c->key, strlen(c->key), want)) return false;
    static const char name[] = "sec-websocket-accept:";
    const char *end = head + n;
    for (const char *line = head; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        size_t ll = (size_t)(eol - line);
        if (ll > sizeof name - 1 && !strncasecmp(line, name, sizeof name - 1)) {
            const char *v = line + sizeof name - 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            return (size_t)(ve - v) == WS_ACCEPT_LEN && !memcmp(v, want, WS_ACCEPT_LEN);
        }
        line = eol + 1;
    }
    return false;
}

static void ws_input(struct rl_run *r, struct rl_conn *c, uint8_t *data, size_t len);

static void handshake_input(struct rl_run *r, struct rl_conn *c, uint8_t *data, size_t len)
{
    /* The common case: the whole answer in one read. */
    const char *head = (const char *)data;
    size_t have = len, take = len;
    if (c->hs_len || !find_crlfcrlf(head, len)) {
        if (!c->hs && !(c->hs = malloc(HS_MAX))) {
            rl_run_error(r, RL_ERR_HANDSHAKE);
            c->flags |= RL_CF_OURS;
            return rl_conn_kill(r, c);
        }
        take = len < (size_t)HS_MAX - c->hs_len ? len : (size_t)HS_MAX - c->hs_len;
        memcpy(c->hs + c->hs_len, data, take);
        c->hs_len = (uint16_t)(c->hs_len + take);
        head = c->hs;
        have = c->hs_len;
        if (!find_crlfcrlf(head, have)) {
            if (c->hs_len == HS_MAX) {
                rl_run_error(r, RL_ERR_HANDSHAKE);
                c->flags |= RL_CF_OURS;
                rl_conn_kill(r, c);
            }
            return;
        }
    }
    const char *body = find_crlfcrlf(head, have);
    size_t head_len = (size_t)(body - head);
    if (!check_upgrade(c, head, head_len)) {
        rl_run_error(r, RL_ERR_HANDSHAKE);
        c->flags |= RL_CF_OURS;
        return rl_conn_kill(r, c);
    }
    /* bytes after the head are WebSocket frames: locate them in `data` */
    size_t extra = have - head_len + (len - take);
    uint8_t *rest = data + take - (have - head_len);
    free(c->hs);
    c->hs = NULL;
    c->hs_len = 0;
    c->state = RL_C_OPEN;
    counted_open(r, c, true);
    r->st->connects_ok++;
    r->st->targets[c->target].established++;
    uint64_t now = rl_now_ns();
    if (r->phase < RL_PH_RUN || rl_run_measured(r, c->t_connect))     /* churn: measured window only */
        rl_hist_record(&r->st->connect, now > c->t_connect ? now - c->t_connect : 0);
    r->sc->on_open(r, c);
    if (extra && c->state == RL_C_OPEN) ws_input(r, c, rest, extra);
}

static void ws_input(struct rl_run *r, struct rl_conn *c, uint8_t *data, size_t len)
{
    if (c->rd.failed) return;          /* closing after a protocol error: input dropped */
    while (len && (c->state == RL_C_OPEN || c->state == RL_C_CLOSING)) {
        size_t used;
        struct ws_event ev;
        ws_reader_next(&c->rd, &r->ws_lim, data, len, &used, &ev);
        data += used;
        len -= used;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            break;
        case WS_EV_MESSAGE:
            r->st->bytes_received += ev.len;
            if (c->state == RL_C_OPEN || !(c->flags & RL_CF_CLOSE_RCVD))
                r->sc->on_message(r, c, ev.opcode, ev.data, ev.len);
            break;
        case WS_EV_PING:
            if (!(c->flags & RL_CF_CLOSE_SENT)) rl_conn_send(r, c, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE:
            c->flags |= RL_CF_CLOSE_RCVD;
            lost(r, c, ev.code);
            if (!(c->flags & RL_CF_CLOSE_SENT)) {
                uint8_t payload[WS_MAX_CONTROL];
                size_t n = ev.code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, ev.code, "");
                c->flags |= RL_CF_CLOSE_SENT;
                rl_conn_send(r, c, WS_OP_CLOSE, payload, n);
            }
            c->state = RL_C_CLOSING;       /* the server closes TCP next */
            return;
        case WS_EV_ERROR:
            rl_run_error(r, RL_ERR_PROTOCOL);
            lost(r, c, ev.code);
            rl_conn_close(r, c, ev.code, true);
            return;
        }
        if (used == 0 && ev.type == WS_EV_NEED_MORE) break;
    }
}

void rl_conn_on_data(struct rl_run *r, struct rl_conn *c, uint8_t *data, size_t len)
{
    switch (c->state) {
    case RL_C_HANDSHAKE: return handshake_input(r, c, data, len);
    case RL_C_OPEN:
    case RL_C_CLOSING: return ws_input(r, c, data, len);
    default: return;      /* connecting (cannot happen) or dead: dropped */
    }
}
