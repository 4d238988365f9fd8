/* rl_stats.h: what one ringload process counts during a run, and how counts are merged.
 *
 * One rl_stats per process (a worker writes its own; the parent merges them). It holds plain
 * counters, the error and close tallies and the run's histograms; it has no pointers, so it
 * can be copied into memory shared with the parent. Figures cover the measured window only
 * (scheduled send time after warm-up) unless a field says otherwise.
 */
#ifndef RINGLOAD_STATS_H
#define RINGLOAD_STATS_H

#include "rl_hist.h"

#include <stdbool.h>
#include <stdint.h>

enum rl_err {
    RL_ERR_CONNECT,        /* TCP connect failed (refused, reset, timed out) */
    RL_ERR_HANDSHAKE,      /* HTTP answer was not a valid 101 upgrade */
    RL_ERR_PROTOCOL,       /* the server broke RFC 6455 (ringload closed with 1002/1007/1009) */
    RL_ERR_DISCONNECT,     /* connection lost or closed by the server during the run */
    RL_ERR_SEND,           /* a send failed */
    RL_ERR_SERVER,         /* the server answered {"type":"error"} (by code: server_errors) */
    RL_ERR_BAD_MESSAGE,    /* a message ringload could not parse or did not expect */
    RL_ERR_JOIN,           /* no `joined` within --connect-timeout */
    RL_ERR_SKIPPED,        /* a scheduled send found its connection not open */
    RL_ERR_OT,             /* an ot client saw an inconsistent revision or could not apply an op */
    RL_ERR_TIMEOUT,        /* churn: a cycle did not complete in time */
    RL_ERR_COUNT
};

#define RL_CLOSE_SLOTS 14
#define RL_STATS_TARGETS 16        /* >= RL_MAX_TARGETS (rl_opts.h) */
#define RL_SERVER_ERR_SLOTS 16

struct rl_server_err { char code[32]; uint64_t n; };

/* Per server instance (--url list entry), whole run. */
struct rl_target_stats {
    uint64_t attempted, established;
    uint64_t lost;                 /* connections closed or dropped by the server during the run */
    uint64_t ot_docs_ok;           /* ot: documents whose GET /rooms/<room> here equals every editor's */
    uint64_t ot_mismatches;        /* ot: documents that differ here, or could not be fetched */
    uint64_t ot_not_held;          /* ot: 404 here for a document none of whose editors is here */
};

struct rl_stats {
    /* connections */
    uint64_t connects_attempted, connects_ok, conns_open, conns_peak;
    /* messages (measured window) */
    uint64_t sent;                 /* messages ringload sent */
    uint64_t expected;             /* deliveries that should arrive */
    uint64_t received;             /* unique deliveries that arrived */
    uint64_t duplicates, reordered;
    uint64_t untracked;            /* arrived too far out of order to tell duplicate from late */
    uint64_t other_msgs;           /* messages the scenario does not measure (presence, ...) */
    uint64_t sent_all, received_all;   /* including warm-up and drain */
    uint64_t bytes_sent, bytes_received;
    /* schedule */
    uint64_t late_sends;
    /* ot */
    uint64_t ot_edits, ot_edits_acked, ot_ops, ot_acks, ot_remote_ops, ot_docs, ot_docs_ok, ot_mismatches;
    /* failures */
    uint64_t errors[RL_ERR_COUNT];
    struct rl_server_err server_errors[RL_SERVER_ERR_SLOTS];
    uint64_t closes[RL_CLOSE_SLOTS];   /* by close code, see rl_close_codes */
    /* times (CLOCK_MONOTONIC ns) of the measured window, and ringload's own CPU in it */
    uint64_t t_measure_start, t_measure_end;
    uint64_t client_cpu_ns;
    struct rl_target_stats targets[RL_STATS_TARGETS];
    /* histograms (ns) */
    rl_hist lat;                   /* delivery latency from the scheduled send time */
    rl_hist ack;                   /* ot: edit -> ack */
    rl_hist connect;               /* scheduled connect -> WebSocket open */
    rl_hist slip;                  /* actual send - scheduled send */
    rl_hist lat_cross;             /* the deliveries of `lat` whose sender used another instance */
};

extern const uint16_t rl_close_codes[RL_CLOSE_SLOTS];   /* 0 = other */
extern const char *const rl_err_names[RL_ERR_COUNT];

void rl_stats_init(struct rl_stats *s);
void rl_stats_merge(struct rl_stats *dst, const struct rl_stats *src);
void rl_stats_close(struct rl_stats *s, uint16_t code);
void rl_stats_server_error(struct rl_stats *s, const char *code, size_t len);
uint64_t rl_stats_error_total(const struct rl_stats *s);

#endif
