/* rl_echo.c: the `echo` and `idle` scenarios.
 *
 * echo: every message carries its sender's id, a per-sender sequence number and its
 * scheduled send time; /echo returns it to the sender, whose one window counts it (unique,
 * late, duplicate) and whose latency is receive time - scheduled time. Binary payload:
 * "RLE1", id (u32), seq (u32), scheduled ns (u64), filler; text payload: a JSON object
 * {"s":id,"q":seq,"t":ns,"p":"xx.."} padded to --size. Owns one rl_seqwin per connection.
 * idle: connections are opened and held; pings are answered by rl_conn; nothing is sent.
 */
#include "rl_run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "RLE1"

struct echo {
    uint64_t unique_all;          /* unique echoes, any time */
    rl_seqwin *wins;              /* one per connection */
};

static int echo_setup(struct rl_run *r)
{
    struct echo *e = calloc(1, sizeof *e);
    rl_seqwin *w = calloc(r->nconns ? r->nconns : 1, sizeof *w);
    if (!e || !w) {
        free(e);
        free(w);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = &w[i];
    e->wins = w;
    r->scd = e;
    return 0;
}

static void echo_fini(struct rl_run *r)
{
    struct echo *e = r->scd;
    for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = NULL;
    if (e) free(e->wins);
    free(e);
    r->scd = NULL;
}

static void echo_open(struct rl_run *r, struct rl_conn *c)
{
    rl_run_ready(r, c);
}

static void send_one(struct rl_run *r, struct rl_conn *c, uint64_t sched)
{
    const struct rl_opts *o = r->o;
    uint32_t gid = rl_run_gid(r, c), seq = c->seq++;
    size_t len = o->size;
    char head[96];
    int hl = 0;
    if (o->text_payload) {
        hl = snprintf(head, sizeof head, "{\"s\":%" PRIu32 ",\"q\":%" PRIu32 ",\"t\":%" PRIu64 ",\"p\":\"", gid, seq, sched);
        if (len < (size_t)hl + 2) len = (size_t)hl + 2;
    }
    uint8_t *p = rl_conn_frame(r, c, o->text_payload ? WS_OP_TEXT : WS_OP_BINARY, len);
    if (!p) return;
    if (o->text_payload) {
        memcpy(p, head, (size_t)hl);
        memset(p + hl, 'x', len - (size_t)hl - 2);
        p[len - 2] = '"';
        p[len - 1] = '}';
    } else {
        memcpy(p, MAGIC, 4);
        memcpy(p + 4, &gid, 4);
        memcpy(p + 8, &seq, 4);
        memcpy(p + 12, &sched, 8);
        memset(p + 20, 'x', len - 20);
    }
    rl_conn_frame_done(r, c, p, len);
    rl_run_sent(r, sched, len);
    if (rl_run_measured(r, sched)) r->st->expected++;
    c->inflight++;
}

static void echo_tick(struct rl_run *r, uint64_t k, uint64_t sched)
{
    struct rl_conn *c = &r->conns[r->senders[k % r->nsenders]];
    if (!rl_conn_is_open(c)) {
        if (rl_run_measured(r, sched)) rl_run_error(r, RL_ERR_SKIPPED);
        return;
    }
    send_one(r, c, sched);
}

static void echo_start_closed(struct rl_run *r)
{
    for (uint32_t i = 0; i < r->nsenders; i++) {
        struct rl_conn *c = &r->conns[r->senders[i]];
        if (!rl_conn_is_open(c)) continue;
        for (uint32_t j = 0; j < r->o->pipeline; j++) send_one(r, c, r->now);
    }
}

static bool parse_text(const uint8_t *d, size_t n, uint32_t *gid, uint32_t *seq, uint64_t *sched)
{
    char buf[96];
    if (n < 12) return false;
    size_t m = n < sizeof buf - 1 ? n : sizeof buf - 1;
    memcpy(buf, d, m);
    buf[m] = '\0';
    unsigned long long s, q, t;
    if (sscanf(buf, "{\"s\":%llu,\"q\":%llu,\"t\":%llu", &s, &q, &t) != 3) return false;
    *gid = (uint32_t)s;
    *seq = (uint32_t)q;
    *sched = t;
    return true;
}

static void echo_message(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *d, size_t n)
{
    uint64_t now = rl_now_ns();
    uint32_t gid, seq;
    uint64_t sched;
    bool ok;
    if (opcode == WS_OP_BINARY) {
        ok = n >= 20 && !memcmp(d, MAGIC, 4);
        if (ok) {
            memcpy(&gid, d + 4, 4);
            memcpy(&seq, d + 8, 4);
            memcpy(&sched, d + 12, 8);
        }
    } else {
        ok = parse_text(d, n, &gid, &seq, &sched);
    }
    if (!ok || gid != rl_run_gid(r, c)) {
        rl_run_error(r, RL_ERR_BAD_MESSAGE);
        return;
    }
    struct echo *e = r->scd;
    struct rl_stats *st = r->st;
    bool measured = rl_run_measured(r, sched);
    st->received_all++;
    if (c->inflight) c->inflight--;
    switch (rl_seqwin_see(c->wins, seq)) {
    case RL_SEQ_LATE:
        if (measured) st->reordered++;
        /* fall through */
    case RL_SEQ_IN_ORDER:
        e->unique_all++;
        if (measured) st->received++;
        rl_run_latency(r, sched, now);
        break;
    case RL_SEQ_DUPLICATE:
        if (measured) st->duplicates++;
        break;
    case RL_SEQ_UNTRACKED:
        e->unique_all++;
        if (measured) {
            st->untracked++;
            st->received++;
        }
        rl_run_latency(r, sched, now);
        break;
    }
    /* closed loop: the reply releases the next message */
    if (r->o->closed_loop && r->phase == RL_PH_RUN && now < r->t_end && rl_conn_is_open(c)) {
        r->now = now;
        send_one(r, c, now);
    }
}

static bool echo_drained(struct rl_run *r)
{
    struct echo *e = r->scd;
    return e->unique_all >= r->st->sent_all;
}

const struct rl_scenario rl_scenario_echo = {
    .name = "echo",
    .uses_rooms = false,
    .has_loss = true,
    .setup = echo_setup,
    .on_open = echo_open,
    .on_message = echo_message,
    .on_tick = echo_tick,
    .on_start_closed = echo_start_closed,
    .drained = echo_drained,
    .fini = echo_fini,
};

/* ---- idle ---- */

static void idle_message(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *d, size_t n)
{
    (void)c;
    (void)opcode;
    (void)d;
    (void)n;
    r->st->other_msgs++;
}

static void idle_tick(struct rl_run *r, uint64_t k, uint64_t sched)
{
    (void)r;
    (void)k;
    (void)sched;
}

static bool idle_drained(struct rl_run *r)
{
    (void)r;
    return true;
}

const struct rl_scenario rl_scenario_idle = {
    .name = "idle",
    .uses_rooms = false,
    .has_loss = false,
    .on_open = echo_open,
    .on_message = idle_message,
    .on_tick = idle_tick,
    .drained = idle_drained,
};
