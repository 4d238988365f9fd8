/* stats.h: one core's counters and histograms.
 *
 * Written by the owning core only, with a plain load and store (no lock prefix, no
 * contention), and read by any core that answers /health or /metrics with relaxed loads.
 * A reader may see a histogram's count one observation ahead of its buckets; Prometheus
 * tolerates that, and nothing on the message path pays for more.
 */
#ifndef RINGROOM_STATS_H
#define RINGROOM_STATS_H

#include "wire.h"

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t stat_t;

static inline void stat_add(stat_t *s, uint64_t n)
{
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void stat_sub(stat_t *s, uint64_t n)
{
    atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) - n, memory_order_relaxed);
}
static inline uint64_t stat_get(const stat_t *s) { return atomic_load_explicit(s, memory_order_relaxed); }

/* Latency histogram with fixed upper bounds (hist_bounds_ns), cumulative only when read. */
#define HIST_BUCKETS 16
extern const uint64_t hist_bounds_ns[HIST_BUCKETS];   /* last one is +Inf */

struct hist {
    stat_t bucket[HIST_BUCKETS];
    stat_t count;
    stat_t sum_ns;
};

static inline void hist_observe(struct hist *h, uint64_t ns)
{
    int i = 0;
    while (i < HIST_BUCKETS - 1 && ns > hist_bounds_ns[i]) i++;
    stat_add(&h->bucket[i], 1);
    stat_add(&h->count, 1);
    stat_add(&h->sum_ns, ns);
}

#define CLOSE_CODE_SLOTS 16
/* The WebSocket close codes counted one by one (slot 0 and the unused ones: 0 = any other). */
extern const uint16_t stats_close_codes[CLOSE_CODE_SLOTS];
/* The slot of stats.closes_by_code for a close code (0 = other). */
int stats_close_index(uint16_t code);

struct core_stats {
    stat_t conns;             /* open connections (gauge) */
    stat_t ws_conns;          /* of which WebSocket (gauge) */
    stat_t rooms;             /* rooms owned by this core (gauge) */
    stat_t accepted;
    stat_t rejected;          /* over --max-conns */
    stat_t http_requests;
    stat_t ws_msgs_in, ws_msgs_out;       /* every data frame, /echo included */
    stat_t msgs_in[MSG_TYPE_COUNT];       /* protocol messages on /ws, by type */
    stat_t msgs_out[MSG_TYPE_COUNT];      /* deliveries (one per receiving connection) */
    stat_t errors[ERR_COUNT];             /* `error` messages sent, by code */
    stat_t bytes_in, bytes_out;
    stat_t backlog_drops;     /* slow readers closed */
    stat_t enobufs;           /* recv re-armed after the buffer ring ran dry */
    stat_t loop_turns;
    stat_t busy_ns;           /* time not spent waiting in io_uring_enter */
    stat_t closes_by_code[CLOSE_CODE_SLOTS]; /* index: see stats_close_index() */
    stat_t ot_ops;            /* ops applied */
    stat_t broadcast_deliveries;
    stat_t handovers_ok, handovers_failed;
    struct hist op_latency;   /* op message received → ack queued */
    struct hist broadcast;    /* one room message queued to every member */
    struct hist store_write;  /* op log: write submitted → completed */
    struct hist store_fsync;  /* op log: write completed → its fdatasync completed */
    stat_t store_errors;      /* op log writes or fdatasyncs that failed */
    /* --redis (cluster/): links, commits, catch-up */
    struct hist redis_rtt;    /* a command sent → its reply */
    stat_t redis_up;          /* gauge: both links of the core are up (0/1) */
    stat_t redis_reconnects;
    stat_t redis_conflicts;   /* op commits refused because another instance committed that revision */
    stat_t redis_rooms;       /* gauge: rooms whose channel the core is subscribed to */
    stat_t redis_catchup_ops; /* ops read from the room logs to fill a gap */
};

#endif
