/* rl_churn.c: the `churn` scenario: connections come and go at --rate per second.
 *
 * Each scheduled event takes a free connection slot (at most --conns open at once), opens a
 * WebSocket to /ws, joins room PREFIX<k mod rooms>, sends --churn-msgs chat messages, waits
 * for its own copies to come back, leaves and closes (1000). Connect latency (scheduled
 * connect -> WebSocket open) is the headline figure; message latency and loss are counted on
 * each connection's own messages. A cycle that takes longer than 5 s is a timeout error.
 * An event that finds every slot busy is counted as `skipped`. Owns the free list and one
 * window per slot.
 */
#include "rl_run.h"

#include "rl_chatmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CYCLE_TIMEOUT_NS (5 * RL_NS_PER_S)

enum { CH_NONE, CH_JOINING, CH_TALKING, CH_LEAVING };

struct churn {
    rl_seqwin *wins;
    uint64_t unique_all;
    uint64_t next_check;
};

static int churn_setup(struct rl_run *r)
{
    struct churn *ch = calloc(1, sizeof *ch);
    if (!ch) return -ENOMEM;
    r->scd = ch;
    ch->wins = calloc(r->nconns ? r->nconns : 1, sizeof *ch->wins);
    if (!ch->wins) return -ENOMEM;
    for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = &ch->wins[i];
    if (r->nrooms == 0) return -EINVAL;
    return 0;
}

static void churn_fini(struct rl_run *r)
{
    struct churn *ch = r->scd;
    for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = NULL;
    if (ch) free(ch->wins);
    free(ch);
    r->scd = NULL;
}

static void leave(struct rl_run *r, struct rl_conn *c)
{
    c->sc_state = CH_LEAVING;
    rl_chatmsg_leave(r, c);
    rl_conn_close(r, c, WS_CLOSE_NORMAL, true);
}

static void talk(struct rl_run *r, struct rl_conn *c)
{
    c->sc_state = CH_TALKING;
    uint64_t now = rl_now_ns();
    for (uint32_t i = 0; i < r->o->churn_msgs; i++) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "{\"type\":\"chat\",\"text\":\"churn\",\"id\":\"%" PRIu32 ":%" PRIu32 ":%" PRIu64 "\"}",
                         rl_run_gid(r, c), c->seq, now);
        c->seq++;
        if (!rl_conn_send(r, c, WS_OP_TEXT, msg, (size_t)n)) return;
        r->now = now;
        rl_run_sent(r, now, (size_t)n);
        if (rl_run_measured(r, now)) r->st->expected++;
        c->inflight++;
    }
    if (c->inflight == 0) leave(r, c);
}

static void churn_tick(struct rl_run *r, uint64_t k, uint64_t sched)
{
    if (r->free_head == RL_NIL) {
        if (rl_run_measured(r, sched)) rl_run_error(r, RL_ERR_SKIPPED);
        return;
    }
    struct rl_conn *c = &r->conns[r->free_head];
    r->free_head = c->next_free;
    c->next_free = RL_NIL;
    c->room = (uint32_t)(k % r->nrooms);
    *c->wins = (rl_seqwin){ 0 };
    if (!rl_conn_open(r, c, sched)) {
        c->next_free = r->free_head;            /* could not even start: the slot is free again */
        r->free_head = c->idx;
        return;
    }
    c->t_deadline = sched + CYCLE_TIMEOUT_NS;
    c->sc_state = CH_NONE;
}

static void churn_open(struct rl_run *r, struct rl_conn *c)
{
    c->sc_state = CH_JOINING;
    rl_chatmsg_join(r, c, r->rooms[c->room].global);
}

static void churn_message(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *d, size_t n)
{
    struct churn *ch = r->scd;
    uint64_t now = rl_now_ns();
    struct rl_chatmsg m;
    if (!rl_chatmsg_read(r, opcode, d, n, &m)) return;
    if (m.type == RL_MSG_JOINED && c->sc_state == CH_JOINING) {
        r->rooms[c->room].joined++;
        talk(r, c);
    } else if (m.type == RL_MSG_CHAT && m.has_id && m.sender == rl_run_gid(r, c) && c->sc_state == CH_TALKING) {
        bool measured = rl_run_measured(r, m.sched);
        r->st->received_all++;
        enum rl_seq_verdict v = rl_seqwin_see(c->wins, m.seq);
        if (v == RL_SEQ_DUPLICATE) {
            if (measured) r->st->duplicates++;
            return;
        }
        ch->unique_all++;
        if (measured) {
            r->st->received++;
            if (v == RL_SEQ_LATE) r->st->reordered++;
        }
        rl_run_latency(r, m.sched, now);
        if (c->inflight && --c->inflight == 0) leave(r, c);
    } else if (m.type == RL_MSG_ERROR) {
        rl_stats_server_error(r->st, m.code, strlen(m.code));
    } else {
        r->st->other_msgs++;
    }
}

static void churn_closed(struct rl_run *r, struct rl_conn *c)
{
    if (c->sc_state == CH_TALKING || c->sc_state == CH_LEAVING) {
        if (r->rooms[c->room].joined) r->rooms[c->room].joined--;
    }
    c->sc_state = CH_NONE;
    c->next_free = r->free_head;
    r->free_head = c->idx;
}

static void churn_poll(struct rl_run *r)
{
    struct churn *ch = r->scd;
    if (r->now < ch->next_check) return;
    ch->next_check = r->now + 100 * RL_NS_PER_MS;
    for (uint32_t i = 0; i < r->nconns; i++) {
        struct rl_conn *c = &r->conns[i];
        if (c->state == RL_C_FREE || c->state == RL_C_DEAD || r->now < c->t_deadline) continue;
        if (r->phase < RL_PH_CLOSE) rl_run_error(r, RL_ERR_TIMEOUT);
        c->flags |= RL_CF_OURS;
        rl_conn_kill(r, c);
    }
}

static bool churn_drained(struct rl_run *r)
{
    struct churn *ch = r->scd;
    return ch->unique_all >= r->st->sent_all;
}

const struct rl_scenario rl_scenario_churn = {
    .name = "churn",
    .uses_rooms = true,
    .has_loss = true,
    .setup = churn_setup,
    .on_open = churn_open,
    .on_message = churn_message,
    .on_tick = churn_tick,
    .on_closed = churn_closed,
    .on_poll = churn_poll,
    .drained = churn_drained,
    .fini = churn_fini,
};
