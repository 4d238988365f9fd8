/* rl_run.h: one ringload process's run: its connections, rooms, schedule, phases and loop.
 *
 * The run context is the single piece of mutable state of a ringload process (a single
 * thread; workers are separate processes with their own run). It owns the connections and
 * rooms, the engine state, the scenario, the schedule and the statistics it writes (st may
 * point into memory shared with the parent process). Phases: CONNECT (open and join every
 * connection, paced by --connect-rate) -> READY (wait for the common start) -> RUN (the
 * open-loop schedule: warm-up, then the measured window) -> DRAIN (wait for outstanding
 * replies) -> FINISH (scenario checks) -> CLOSE (close frames) -> DONE.
 */
#ifndef RINGLOAD_RUN_H
#define RINGLOAD_RUN_H

#include "rl_conn.h"
#include "rl_engine.h"
#include "rl_hist.h"
#include "rl_opts.h"
#include "rl_scen.h"
#include "rl_stats.h"
#include "rl_util.h"

#include "json.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct rl_shared;

enum rl_phase { RL_PH_CONNECT, RL_PH_READY, RL_PH_RUN, RL_PH_DRAIN, RL_PH_FINISH, RL_PH_CLOSE, RL_PH_DONE };

struct rl_room {
    uint32_t first;               /* index of its first connection in r->conns */
    uint32_t size;                /* members */
    uint32_t joined;              /* members joined right now */
    uint32_t global;              /* room number k: its name is PREFIX<k> */
    uint32_t senders;             /* members 0..senders-1 send */
    void *sc;                     /* scenario per-room state */
};

struct rl_run {
    const struct rl_opts *o;
    const struct rl_scenario *sc;
    const struct rl_engine_ops *ops;
    void *eng;
    void *scd;                    /* scenario state for the whole run */
    struct sockaddr_in dst[RL_MAX_TARGETS];    /* one per --url entry (o->ntargets) */
    struct sockaddr_in *srcs;     /* source addresses, NULL = kernel's choice */
    uint32_t nsrcs;

    struct rl_conn *conns;
    uint32_t nconns;
    uint32_t base;                /* global id of conns[0] (ids are unique over workers) */
    struct rl_room *rooms;
    uint32_t nrooms;
    uint32_t *senders;            /* connection indexes in schedule order */
    uint32_t nsenders;
    uint32_t dirty_head;
    uint32_t free_head;           /* churn: free connection structs */

    /* connect phase */
    uint32_t next_connect;        /* next connection to open */
    uint32_t nready, nfailed;
    uint64_t next_connect_at;
    uint64_t connect_deadline;

    /* schedule */
    double rate;                  /* events/s for this process */
    double interval_ns;
    uint64_t k;                   /* next event */
    uint64_t t_start;             /* event 0 (start of warm-up) */
    uint64_t t_measure;           /* start of the measured window */
    uint64_t t_end;               /* end of the schedule and of the measured window */
    uint64_t phase_deadline;
    enum rl_phase phase;
    uint64_t now;
    rl_rng rng;

    /* statistics and progress */
    struct rl_stats *st;
    rl_hist *window;              /* latencies of the last second, for the progress line */
    uint64_t next_publish;
    struct rl_shared *shared;     /* NULL when not a worker */
    uint32_t worker;
    uint64_t cpu_at_measure;      /* ringload's own CPU ns when the window opened */

    jw out;                       /* JSON being built for one message */
    jsmntok_t *toks;              /* tokens for parsing received messages (grown on demand) */
    int ntoks;
    struct ws_limits ws_lim;
    int exit_code;
};

/* Builds and runs a whole run for connections [first, first + n) (global ids) and rooms
 * [room_first, room_first + nrooms); writes results into *st. Returns 0 or 1 (scenario
 * failure) or -errno on a setup error. */
int rl_run_main(const struct rl_opts *o, struct rl_stats *st, struct rl_shared *shared, uint32_t worker,
                uint32_t first, uint32_t n, uint32_t room_first, uint32_t nrooms);

/* For scenarios. */
void rl_run_ready(struct rl_run *r, struct rl_conn *c);   /* c may start sending */
void rl_run_conn_failed(struct rl_run *r, struct rl_conn *c);
void rl_run_error(struct rl_run *r, enum rl_err e);
/* True if a message scheduled at `sched` belongs to the measured window. */
static inline bool rl_run_measured(const struct rl_run *r, uint64_t sched)
{
    return r->phase >= RL_PH_RUN && sched >= r->t_measure && sched < r->t_end;
}
/* Records a delivery latency (all: into the progress window; measured: into st->lat). */
void rl_run_latency(struct rl_run *r, uint64_t sched, uint64_t now);
/* The same delivery came from a sender connected to another instance than the receiver
 * (--url list): also recorded as cross-instance (st->lat_cross, measured window only). */
void rl_run_latency_cross(struct rl_run *r, uint64_t sched, uint64_t now);
/* The instance (index into o->targets) connection c connects to: rl_opts_target_of() for its
 * global id, or for churn (a cycle per tick) the cycle's room + k / rooms, so consecutive
 * visitors of a room use consecutive instances. */
uint32_t rl_run_target(const struct rl_run *r, const struct rl_conn *c);
/* Records the slip of a send scheduled at `sched` happening now. */
void rl_run_sent(struct rl_run *r, uint64_t sched, size_t bytes);
/* Global id of a connection, and back (RL_NIL if not ours). */
static inline uint32_t rl_run_gid(const struct rl_run *r, const struct rl_conn *c) { return r->base + c->idx; }
static inline struct rl_conn *rl_run_conn_by_gid(struct rl_run *r, uint64_t gid)
{
    return gid >= r->base && gid - r->base < r->nconns ? &r->conns[gid - r->base] : NULL;
}

#endif
