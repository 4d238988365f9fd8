/* rl_chat.c: the `chat` and `cursor` scenarios: rooms of the /ws protocol.
 *
 * Each connection joins room PREFIX<k> and waits for `joined`. chat: a sender's message is
 * {"type":"chat","text":"..","id":"<sender>:<seq>:<scheduled ns>"}; every member (sender
 * included) receives it back as `chat` with the same id, so each receiver keeps one window per
 * member of its room and counts unique, late and duplicate deliveries per sender; expected
 * deliveries = members joined when the message was sent. cursor: {"type":"cursor","pos":seq,
 * "sel":[sender,seq,scheduled s,ns]}; the server coalesces cursors (one per participant per
 * interval, never to the sender), so only latency is measured, no loss. (`sel` carries the
 * scheduled time as seconds and nanoseconds: exact, and each well inside a double.) Owns the windows
 * (one block of room_size per connection) and its counters.
 */
#include "rl_run.h"

#include "rl_chatmsg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CS_NONE, CS_JOINING, CS_JOINED };

struct chat {
    bool cursor;
    uint64_t expected_all, unique_all;
    uint64_t last_rx;             /* cursor: time of the last delivery (drain ends when quiet) */
    rl_seqwin *wins;
    char *filler;                 /* --size bytes of text */
};

static int setup(struct rl_run *r, bool cursor)
{
    struct chat *ch = calloc(1, sizeof *ch);
    if (!ch) return -ENOMEM;
    r->scd = ch;
    ch->cursor = cursor;
    ch->filler = malloc(r->o->size + 1);
    if (!ch->filler) return -ENOMEM;
    for (uint32_t i = 0; i < r->o->size; i++) ch->filler[i] = (char)('a' + i % 26);
    ch->filler[r->o->size] = '\0';
    if (!cursor) {
        /* one window per member of the room at every receiver: n x room size x 16 bytes */
        size_t per = r->o->room_size;
        if ((size_t)r->nconns * per > ((size_t)4 << 30) / sizeof *ch->wins) {
            fprintf(stderr, "ringload: chat: %u connections in rooms of %zu need %zu MiB of sequence windows; "
                    "use smaller rooms or fewer connections per worker (--workers)\n", r->nconns, per,
                    (size_t)r->nconns * per * sizeof *ch->wins >> 20);
            return -ENOMEM;
        }
        ch->wins = calloc(r->nconns ? (size_t)r->nconns * per : 1, sizeof *ch->wins);
        if (!ch->wins) return -ENOMEM;
        for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = ch->wins + (size_t)i * per;
    }
    return 0;
}

static int chat_setup(struct rl_run *r) { return setup(r, false); }
static int cursor_setup(struct rl_run *r) { return setup(r, true); }

static void chat_fini(struct rl_run *r)
{
    struct chat *ch = r->scd;
    for (uint32_t i = 0; i < r->nconns; i++) r->conns[i].wins = NULL;
    if (ch) {
        free(ch->wins);
        free(ch->filler);
    }
    free(ch);
    r->scd = NULL;
}

static void chat_open(struct rl_run *r, struct rl_conn *c)
{
    struct rl_room *rm = &r->rooms[c->room];
    if (!rl_chatmsg_join(r, c, rm->global)) return;
    c->sc_state = CS_JOINING;
}

static void chat_closed(struct rl_run *r, struct rl_conn *c)
{
    if (c->sc_state == CS_JOINED && c->room != RL_NIL) r->rooms[c->room].joined--;
    c->sc_state = CS_NONE;
}

static void send_chat(struct rl_run *r, struct rl_conn *c, uint64_t sched)
{
    struct chat *ch = r->scd;
    struct rl_room *rm = &r->rooms[c->room];
    uint32_t seq = c->seq++;
    char tail[96];
    int tl;
    const char *head;
    size_t hl;
    if (ch->cursor) {
        head = "{\"type\":\"cursor\",\"pos\":";
        tl = snprintf(tail, sizeof tail, "%" PRIu32 ",\"sel\":[%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%" PRIu64 "]}", seq,
                      rl_run_gid(r, c), seq, (uint64_t)(sched / RL_NS_PER_S), (uint64_t)(sched % RL_NS_PER_S));
    } else {
        head = "{\"type\":\"chat\",\"text\":\"";
        tl = snprintf(tail, sizeof tail, "\",\"id\":\"%" PRIu32 ":%" PRIu32 ":%" PRIu64 "\"}", rl_run_gid(r, c), seq, sched);
    }
    hl = strlen(head);
    size_t body = ch->cursor ? 0 : r->o->size;
    size_t len = hl + body + (size_t)tl;
    uint8_t *p = rl_conn_frame(r, c, WS_OP_TEXT, len);
    if (!p) return;
    memcpy(p, head, hl);
    memcpy(p + hl, ch->filler, body);
    memcpy(p + hl + body, tail, (size_t)tl);
    rl_conn_frame_done(r, c, p, len);
    rl_run_sent(r, sched, len);
    if (!ch->cursor) {
        ch->expected_all += rm->joined;
        if (rl_run_measured(r, sched)) r->st->expected += rm->joined;
    } else if (rm->joined) {
        ch->expected_all += rm->joined - 1;      /* at most: the server may coalesce */
    }
    c->inflight++;
}

static void chat_tick(struct rl_run *r, uint64_t k, uint64_t sched)
{
    struct rl_conn *c = &r->conns[r->senders[k % r->nsenders]];
    if (!rl_conn_is_open(c) || c->sc_state != CS_JOINED) {
        if (rl_run_measured(r, sched)) rl_run_error(r, RL_ERR_SKIPPED);
        return;
    }
    send_chat(r, c, sched);
}

static void chat_start_closed(struct rl_run *r)
{
    for (uint32_t i = 0; i < r->nsenders; i++) {
        struct rl_conn *c = &r->conns[r->senders[i]];
        if (!rl_conn_is_open(c) || c->sc_state != CS_JOINED) continue;
        for (uint32_t j = 0; j < r->o->pipeline; j++) send_chat(r, c, r->now);
    }
}

/* A chat delivery: id "<sender>:<seq>:<sched>". */
static void on_chat(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m, uint64_t now)
{
    struct chat *ch = r->scd;
    struct rl_stats *st = r->st;
    struct rl_conn *from = rl_run_conn_by_gid(r, m->sender);
    if (!m->has_id || !from || from->room != c->room || c->room == RL_NIL) {
        rl_run_error(r, RL_ERR_BAD_MESSAGE);
        return;
    }
    bool measured = rl_run_measured(r, m->sched);
    st->received_all++;
    switch (rl_seqwin_see(&c->wins[from->member], m->seq)) {
    case RL_SEQ_LATE:
        if (measured) st->reordered++;
        /* fall through */
    case RL_SEQ_IN_ORDER:
        ch->unique_all++;
        if (measured) st->received++;
        rl_run_latency(r, m->sched, now);
        if (from->target != c->target) rl_run_latency_cross(r, m->sched, now);
        break;
    case RL_SEQ_DUPLICATE:
        if (measured) st->duplicates++;
        break;
    case RL_SEQ_UNTRACKED:
        ch->unique_all++;
        if (measured) {
            st->untracked++;
            st->received++;
        }
        rl_run_latency(r, m->sched, now);
        if (from->target != c->target) rl_run_latency_cross(r, m->sched, now);
        break;
    }
    if (from == c) {
        if (c->inflight) c->inflight--;
        if (r->o->closed_loop && r->phase == RL_PH_RUN && now < r->t_end && rl_conn_is_open(c)) {
            r->now = now;
            send_chat(r, c, now);
        }
    }
}

static void on_cursor(struct rl_run *r, struct rl_conn *c, const struct rl_chatmsg *m, uint64_t now)
{
    struct chat *ch = r->scd;
    if (!m->has_id) {
        rl_run_error(r, RL_ERR_BAD_MESSAGE);
        return;
    }
    r->st->received_all++;
    ch->unique_all++;
    ch->last_rx = now;
    if (rl_run_measured(r, m->sched)) r->st->received++;
    rl_run_latency(r, m->sched, now);
    const struct rl_conn *from = rl_run_conn_by_gid(r, m->sender);
    if (from && from->target != c->target) rl_run_latency_cross(r, m->sched, now);
}

static void chat_message(struct rl_run *r, struct rl_conn *c, uint8_t opcode, const uint8_t *d, size_t n)
{
    uint64_t now = rl_now_ns();
    struct rl_chatmsg m;
    if (!rl_chatmsg_read(r, opcode, d, n, &m)) return;
    switch (m.type) {
    case RL_MSG_CHAT:
        if (c->sc_state == CS_JOINED) on_chat(r, c, &m, now);
        break;
    case RL_MSG_CURSOR:
        on_cursor(r, c, &m, now);
        break;
    case RL_MSG_JOINED:
        if (c->sc_state == CS_JOINING) {
            c->sc_state = CS_JOINED;
            r->rooms[c->room].joined++;
            rl_run_ready(r, c);
        }
        break;
    case RL_MSG_ERROR:
        rl_stats_server_error(r->st, m.code, strlen(m.code));
        break;
    default:
        r->st->other_msgs++;
        break;
    }
}

/* Cursor updates may be coalesced, so fewer than expected_all may ever come: the drain also
 * ends once nothing has arrived for CURSOR_QUIET_NS after the schedule ended. */
#define CURSOR_QUIET_NS (200 * RL_NS_PER_MS)

static bool chat_drained(struct rl_run *r)
{
    struct chat *ch = r->scd;
    if (ch->unique_all >= ch->expected_all) return true;
    if (!ch->cursor) return false;
    uint64_t since = ch->last_rx > r->t_end ? ch->last_rx : r->t_end;
    return r->now >= since + CURSOR_QUIET_NS;
}

const struct rl_scenario rl_scenario_chat = {
    .name = "chat",
    .uses_rooms = true,
    .has_loss = true,
    .setup = chat_setup,
    .on_open = chat_open,
    .on_message = chat_message,
    .on_tick = chat_tick,
    .on_start_closed = chat_start_closed,
    .on_closed = chat_closed,
    .drained = chat_drained,
    .fini = chat_fini,
};

const struct rl_scenario rl_scenario_cursor = {
    .name = "cursor",
    .uses_rooms = true,
    .has_loss = false,
    .setup = cursor_setup,
    .on_open = chat_open,
    .on_message = chat_message,
    .on_tick = chat_tick,
    .on_closed = chat_closed,
    .drained = chat_drained,
    .fini = chat_fini,
};
