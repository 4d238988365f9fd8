/* rl_run.c: a ringload process's loop (see rl_run.h).
 *
 * Open loop: event k of this process is due at t_start + k * interval, whatever happened to
 * earlier events; a loop turn fires every due event (a late turn fires several, and the slip
 * is recorded), then sleeps in the engine until the next one is due or I/O arrives. Latency
 * is always taken from the scheduled time, so a stalled server or a stalled ringload shows
 * up in the figures instead of silently lowering the offered load.
 */
#include "rl_run.h"

#include "rl_proc.h"
#include "rl_workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define MAX_EVENTS_PER_TURN 4096
#define MAX_CONNECTS_PER_TURN 512
#define CLOSE_GRACE_NS (1000 * RL_NS_PER_MS)

static const struct rl_scenario *scenario_for(enum rl_scenario_kind k)
{
    switch (k) {
    case RL_SC_ECHO: return &rl_scenario_echo;
    case RL_SC_IDLE: return &rl_scenario_idle;
    case RL_SC_CHAT: return &rl_scenario_chat;
    case RL_SC_CURSOR: return &rl_scenario_cursor;
    case RL_SC_OT: return &rl_scenario_ot;
    case RL_SC_CHURN: return &rl_scenario_churn;
    case RL_SC_COUNT: break;
    }
    return &rl_scenario_echo;
}

void rl_run_error(struct rl_run *r, enum rl_err e)
{
    r->st->errors[e]++;
}

void rl_run_ready(struct rl_run *r, struct rl_conn *c)
{
    if (c->flags & RL_CF_READY) return;
    c->flags |= RL_CF_READY;
    r->nready++;
}

void rl_run_conn_failed(struct rl_run *r, struct rl_conn *c)
{
    if (c->flags & RL_CF_READY) return;
    r->nfailed++;
}

void rl_run_latency(struct rl_run *r, uint64_t sched, uint64_t now)
{
    uint64_t v = now > sched ? now - sched : 0;
    rl_hist_record(r->window, v);
    if (rl_run_measured(r, sched)) rl_hist_record(&r->st->lat, v);
}

void rl_run_latency_cross(struct rl_run *r, uint64_t sched, uint64_t now)
{
    if (rl_run_measured(r, sched)) rl_hist_record(&r->st->lat_cross, now > sched ? now - sched : 0);
}

uint32_t rl_run_target(const struct rl_run *r, const struct rl_conn *c)
{
    const struct rl_opts *o = r->o;
    if (o->ntargets <= 1) return 0;
    if (o->scenario == RL_SC_CHURN) {
        uint64_t room = c->room != RL_NIL ? c->room : 0, cycle = r->nrooms ? r->k / r->nrooms : r->k;
        return (uint32_t)((room + cycle) % o->ntargets);
    }
    return rl_opts_target_of(o, rl_run_gid(r, c));
}

void rl_run_sent(struct rl_run *r, uint64_t sched, size_t bytes)
{
    (void)bytes;
    r->st->sent_all++;
    if (!rl_run_measured(r, sched)) return;
    r->st->sent++;
    uint64_t slip = r->now > sched ? r->now - sched : 0;
    rl_hist_record(&r->st->slip, slip);
    if (slip > r->o->late_threshold_ns) r->st->late_sends++;
}

/* ---- setup ---- */

static uint32_t senders_in(const struct rl_opts *o, uint32_t room_size)
{
    if (!o->senders || o->senders > room_size) return room_size;
    return o->senders;
}

static int build(struct rl_run *r, uint32_t first, uint32_t n, uint32_t room_first, uint32_t nrooms)
{
    const struct rl_opts *o = r->o;
    r->base = first;
    r->nconns = n;
    r->conns = calloc(n, sizeof *r->conns);
    if (!r->conns) return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        struct rl_conn *c = &r->conns[i];
        c->idx = i;
        c->room = RL_NIL;
        c->link = RL_NIL;
        c->next_free = i + 1 < n ? i + 1 : RL_NIL;
        c->fd = -1;
    }
    r->free_head = n ? 0 : RL_NIL;
    r->dirty_head = RL_NIL;

    if (o->scenario == RL_SC_CHURN) {
        /* every room is ours; members come and go */
        r->nrooms = o->rooms;
        r->rooms = calloc(r->nrooms ? r->nrooms : 1, sizeof *r->rooms);
        if (!r->rooms) return -ENOMEM;
        for (uint32_t j = 0; j < r->nrooms; j++) r->rooms[j].global = j;
    } else if (r->sc->uses_rooms) {
        r->nrooms = nrooms;
        r->rooms = calloc(nrooms ? nrooms : 1, sizeof *r->rooms);
        if (!r->rooms) return -ENOMEM;
        for (uint32_t j = 0; j < nrooms; j++) {
            struct rl_room *rm = &r->rooms[j];
            uint32_t g = room_first + j;
            uint64_t gfirst = (uint64_t)g * o->room_size;
            rm->global = g;
            rm->first = (uint32_t)(gfirst - first);
            rm->size = o->conns - gfirst < o->room_size ? (uint32_t)(o->conns - gfirst) : o->room_size;
            rm->senders = senders_in(o, rm->size);
            for (uint32_t m = 0; m < rm->size; m++) {
                struct rl_conn *c = &r->conns[rm->first + m];
                c->room = j;
                c->member = (uint16_t)m;
            }
        }
    }

    /* who sends, in schedule order: consecutive events go to different rooms */
    r->senders = calloc(n ? n : 1, sizeof *r->senders);
    if (!r->senders) return -ENOMEM;
    if (o->scenario == RL_SC_CHURN || o->scenario == RL_SC_IDLE) {
        r->nsenders = 0;
    } else if (r->sc->uses_rooms) {
        uint32_t maxs = 0;
        for (uint32_t j = 0; j < r->nrooms; j++)
            if (r->rooms[j].senders > maxs) maxs = r->rooms[j].senders;
        for (uint32_t m = 0; m < maxs; m++)
            for (uint32_t j = 0; j < r->nrooms; j++)
                if (m < r->rooms[j].senders) r->senders[r->nsenders++] = r->rooms[j].first + m;
    } else {
        for (uint32_t i = 0; i < n; i++) r->senders[r->nsenders++] = i;
    }
    return 0;
}

static void set_rate(struct rl_run *r)
{
    const struct rl_opts *o = r->o;
    if (o->scenario == RL_SC_IDLE || o->closed_loop) {
        r->rate = 0;
    } else if (o->scenario == RL_SC_CHURN) {
        r->rate = o->rate;                  /* connections per second, one worker */
    } else if (o->rate_per_conn) {
        r->rate = o->rate * r->nsenders;
    } else {
        uint64_t all = rl_opts_senders(o);
        r->rate = all ? o->rate * (double)r->nsenders / (double)all : 0;
    }
    r->interval_ns = r->rate > 0 ? 1e9 / r->rate : 0;
}

/* ---- progress ---- */

static void publish(struct rl_run *r, bool force)
{
    if (!force && r->now < r->next_publish) return;
    r->next_publish = r->now + RL_NS_PER_S;
    if (!r->shared) return;
    struct rl_worker_slot *s = &r->shared->slot[r->worker];
    atomic_store_explicit(&s->conns_open, r->st->conns_open, memory_order_relaxed);
    atomic_store_explicit(&s->sent, r->st->sent_all, memory_order_relaxed);
    atomic_store_explicit(&s->received, r->st->received_all, memory_order_relaxed);
    atomic_store_explicit(&s->errors, rl_stats_error_total(r->st), memory_order_relaxed);
    atomic_store_explicit(&s->window_p99_ns, rl_hist_percentile(r->window, 99), memory_order_relaxed);
    atomic_store_explicit(&s->window_count, r->window->count, memory_order_relaxed);
    atomic_store_explicit(&s->phase, (uint32_t)r->phase, memory_order_release);
    rl_hist_reset(r->window);
}

static bool interrupted(struct rl_run *r)
{
    if (r->shared && atomic_load_explicit(&r->shared->stop, memory_order_relaxed)) return true;
    sigset_t pend;
    if (sigpending(&pend)) return false;
    if (sigismember(&pend, SIGINT) || sigismember(&pend, SIGTERM)) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        struct timespec zero = { 0, 0 };
        sigtimedwait(&set, NULL, &zero);
        return true;
    }
    return false;
}

/* ---- phases ---- */

static void enter_ready(struct rl_run *r)
{
    /* connections that did not make it in time */
    for (uint32_t i = 0; i < r->nconns && r->o->scenario != RL_SC_CHURN; i++) {
        struct rl_conn *c = &r->conns[i];
        if (c->flags & RL_CF_READY || c->state == RL_C_FREE || c->state == RL_C_DEAD) continue;
        rl_run_error(r, c->state == RL_C_CONNECTING ? RL_ERR_CONNECT
                        : c->state == RL_C_HANDSHAKE ? RL_ERR_HANDSHAKE : RL_ERR_JOIN);
        c->flags |= RL_CF_OURS;
        r->nfailed++;
        rl_conn_kill(r, c);
    }
    r->phase = RL_PH_READY;
    if (r->shared) {
        atomic_store_explicit(&r->shared->slot[r->worker].ready, 1, memory_order_release);
        publish(r, true);
    }
}

static void start_schedule(struct rl_run *r, uint64_t go)
{
    const struct rl_opts *o = r->o;
    r->t_start = go;
    r->t_measure = go + (uint64_t)o->warmup_ms * RL_NS_PER_MS;
    r->t_end = r->t_measure + (uint64_t)o->duration_ms * RL_NS_PER_MS;
    r->st->t_measure_start = r->t_measure;
    r->st->t_measure_end = r->t_end;
    r->k = 0;
    r->phase = RL_PH_RUN;
    if (o->closed_loop && r->sc->on_start_closed) r->sc->on_start_closed(r);
}

static void enter_close(struct rl_run *r)
{
    r->phase = RL_PH_CLOSE;
    r->phase_deadline = r->now + CLOSE_GRACE_NS;
    for (uint32_t i = 0; i < r->nconns; i++) {
        struct rl_conn *c = &r->conns[i];
        if (c->state != RL_C_FREE && c->state != RL_C_DEAD) rl_conn_close(r, c, WS_CLOSE_NORMAL, true);
    }
}

static uint32_t live_conns(const struct rl_run *r)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->nconns; i++) n += r->conns[i].state != RL_C_FREE;
    return n;
}

static void step(struct rl_run *r)
{
    const struct rl_opts *o = r->o;
    switch (r->phase) {
    case RL_PH_CONNECT: {
        uint64_t gap = o->connect_rate > 0 ? (uint64_t)(1e9 / o->connect_rate) : 0;
        uint32_t started = 0;
        while (r->next_connect < r->nconns && started < MAX_CONNECTS_PER_TURN &&
               r->next_connect - r->nready - r->nfailed < o->max_connecting &&
               (!gap || r->now >= r->next_connect_at)) {
            uint64_t sched = gap ? r->next_connect_at : r->now;
            struct rl_conn *c = &r->conns[r->next_connect++];
            rl_conn_open(r, c, sched);
            if (gap) r->next_connect_at += gap;
            started++;
        }
        if (o->scenario == RL_SC_CHURN || r->nready + r->nfailed >= r->nconns || r->now >= r->connect_deadline)
            enter_ready(r);
        break;
    }
    case RL_PH_READY: {
        uint64_t go = r->shared ? atomic_load_explicit(&r->shared->go_ns, memory_order_acquire) : r->now;
        if (go && r->now >= go) start_schedule(r, go);
        break;
    }
    case RL_PH_RUN: {
        if (r->cpu_at_measure == 0 && r->now >= r->t_measure) r->cpu_at_measure = rl_proc_self_cpu_ns(false) + 1;
        if (r->interval_ns > 0) {
            uint32_t fired = 0;
            while (fired < MAX_EVENTS_PER_TURN) {
                uint64_t sched = r->t_start + (uint64_t)((double)r->k * r->interval_ns);
                if (sched > r->now || sched >= r->t_end) break;
                r->sc->on_tick(r, r->k, sched);
                r->k++;
                fired++;
            }
        }
        if (r->now >= r->t_end) {
            r->st->client_cpu_ns = rl_proc_self_cpu_ns(false) - (r->cpu_at_measure ? r->cpu_at_measure - 1 : 0);
            r->phase = RL_PH_DRAIN;
            r->phase_deadline = r->now + (uint64_t)o->drain_ms * RL_NS_PER_MS;
        }
        break;
    }
    case RL_PH_DRAIN:
        if (r->now >= r->phase_deadline || (r->sc->drained && r->sc->drained(r))) {
            r->phase = RL_PH_FINISH;
            publish(r, true);
            if (r->sc->finish) r->exit_code |= r->sc->finish(r);
            r->now = rl_now_ns();
            enter_close(r);
        }
        break;
    case RL_PH_FINISH:
        break;
    case RL_PH_CLOSE:
        if (live_conns(r) == 0) {
            r->phase = RL_PH_DONE;
        } else if (r->now >= r->phase_deadline) {
            for (uint32_t i = 0; i < r->nconns; i++) rl_conn_kill(r, &r->conns[i]);
            if (r->now >= r->phase_deadline + CLOSE_GRACE_NS) r->phase = RL_PH_DONE;
        }
        break;
    case RL_PH_DONE:
        break;
    }
}

static uint64_t next_wakeup(const struct rl_run *r)
{
    uint64_t soon = r->now + 10 * RL_NS_PER_MS, w = r->next_publish;
    switch (r->phase) {
    case RL_PH_CONNECT:
        if (r->o->connect_rate > 0 && r->next_connect < r->nconns && r->next_connect_at < soon) soon = r->next_connect_at;
        if (r->connect_deadline < soon) soon = r->connect_deadline;
        break;
    case RL_PH_READY:
        soon = r->now + 1 * RL_NS_PER_MS;
        break;
    case RL_PH_RUN: {
        uint64_t next = r->t_end;
        if (r->interval_ns > 0) {
            uint64_t sched = r->t_start + (uint64_t)((double)r->k * r->interval_ns);
            if (sched < next) next = sched;
        }
        if (r->cpu_at_measure == 0 && r->t_measure < next) next = r->t_measure;
        soon = next < soon + 40 * RL_NS_PER_MS ? next : soon + 40 * RL_NS_PER_MS;
        break;
    }
    case RL_PH_DRAIN:
    case RL_PH_CLOSE:
        if (r->phase_deadline < soon) soon = r->phase_deadline;
        break;
    case RL_PH_FINISH:
    case RL_PH_DONE:
        break;
    }
    return soon < w ? soon : w;
}

static int loop(struct rl_run *r)
{
    r->now = rl_now_ns();
    r->connect_deadline = r->now + (uint64_t)r->o->connect_timeout_ms * RL_NS_PER_MS;
    r->next_publish = r->now;
    uint64_t next_sigcheck = 0;
    while (r->phase != RL_PH_DONE) {
        r->now = rl_now_ns();
        if (r->now >= next_sigcheck) {
            next_sigcheck = r->now + 50 * RL_NS_PER_MS;
            if (interrupted(r)) {
                if (r->phase <= RL_PH_READY) {
                    r->phase = RL_PH_DRAIN;
                    r->phase_deadline = r->now;
                } else if (r->phase == RL_PH_RUN) {
                    r->t_end = r->now;            /* the measured window ends here */
                    r->st->t_measure_end = r->now;
                } else if (r->phase == RL_PH_DRAIN) {
                    r->phase_deadline = r->now;
                }
            }
        }
        step(r);
        if (r->sc->on_poll) r->sc->on_poll(r);
        publish(r, false);
        if (r->phase == RL_PH_DONE) break;
        uint64_t wake = next_wakeup(r);
        r->now = rl_now_ns();
        int rc = r->ops->wait(r, wake > r->now ? wake - r->now : 0);
        if (rc < 0) {
            fprintf(stderr, "ringload: engine: %s\n", strerror(-rc));
            return rc;
        }
    }
    publish(r, true);
    return 0;
}

int rl_run_main(const struct rl_opts *o, struct rl_stats *st, struct rl_shared *shared, uint32_t worker,
                uint32_t first, uint32_t n, uint32_t room_first, uint32_t nrooms)
{
    struct rl_run *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->o = o;
    r->st = st;
    r->shared = shared;
    r->worker = worker;
    r->sc = scenario_for(o->scenario);
    r->ops = o->engine == RL_ENGINE_EPOLL ? &rl_engine_epoll : &rl_engine_uring;
    rl_rng_seed(&r->rng, o->seed * 0x100000001B3ull + worker);
    r->ws_lim = (struct ws_limits){ .max_frame = 64u << 20, .max_message = 64u << 20, .peer_masks = false };
    jw_init(&r->out, 4096);
    r->window = malloc(sizeof *r->window);
    int rc = r->window ? 0 : -ENOMEM;
    if (r->window) rl_hist_reset(r->window);

    /* timer slack: the default 50 us would add itself to every scheduled send */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    for (uint32_t t = 0; t < o->ntargets && t < RL_MAX_TARGETS; t++) {
        r->dst[t].sin_family = AF_INET;
        r->dst[t].sin_port = htons(o->targets[t].port);
        if (inet_pton(AF_INET, o->targets[t].host, &r->dst[t].sin_addr) != 1) rc = -EINVAL;
    }
    if (!rc && o->source_ips > 1) {
        r->nsrcs = o->source_ips;
        r->srcs = calloc(r->nsrcs, sizeof *r->srcs);
        if (!r->srcs) rc = -ENOMEM;
        for (uint32_t i = 0; !rc && i < r->nsrcs; i++) {
            r->srcs[i].sin_family = AF_INET;
            r->srcs[i].sin_addr.s_addr = htonl(0x7F000001u + i);    /* 127.0.0.1 + i */
        }
    }
    if (!rc) rc = build(r, first, n, room_first, nrooms);
    if (!rc) {
        set_rate(r);
        rc = r->ops->init(r);
        if (rc) fprintf(stderr, "ringload: %s engine: %s\n", r->ops->name, strerror(-rc));
    }
    bool engine_up = !rc;
    if (!rc && r->sc->setup) rc = r->sc->setup(r);
    if (!rc) {
        r->phase = RL_PH_CONNECT;
        if (o->scenario == RL_SC_CHURN) r->next_connect = r->nconns;   /* nothing opened up front */
        rc = loop(r);
    }
    int code = rc < 0 ? rc : r->exit_code;

    if (r->sc->fini) r->sc->fini(r);
    if (engine_up) r->ops->fini(r);
    for (uint32_t i = 0; r->conns && i < r->nconns; i++) rl_conn_free(&r->conns[i]);
    free(r->conns);
    free(r->rooms);
    free(r->senders);
    free(r->srcs);
    free(r->window);
    jw_free(&r->out);
    free(r->toks);
    free(r);
    return code;
}
