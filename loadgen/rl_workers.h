/* rl_workers.h: several ringload processes as one run: fork, common start, merged results.
 *
 * The parent maps one shared block before forking: a start time it publishes once every
 * worker has opened its connections, and one slot per worker with live counters (atomics,
 * written once a second by the worker) and the worker's full statistics (written only by
 * that worker; read by the parent after the worker has exited). The parent prints progress,
 * samples the server's CPU and RSS, merges the slots and writes the reports. With one worker
 * it is the same code, so single-process and multi-process runs measure alike.
 */
#ifndef RINGLOAD_WORKERS_H
#define RINGLOAD_WORKERS_H

#include "rl_opts.h"
#include "rl_stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct rl_worker_slot {
    _Atomic uint64_t conns_open, sent, received, errors;
    _Atomic uint64_t window_p99_ns, window_count;   /* the worker's last second */
    _Atomic uint32_t phase;                          /* enum rl_phase */
    _Atomic uint32_t ready;                          /* connect phase over */
    _Atomic uint32_t done;
    _Atomic int32_t exit_code;
    struct rl_stats stats;
};

struct rl_shared {
    _Atomic uint64_t go_ns;       /* start of the schedule; 0 until every worker is ready */
    _Atomic uint32_t stop;        /* interrupted: finish early */
    uint32_t nworkers;
    struct rl_worker_slot slot[];
};

/* Server measurements taken by the parent (pid 0: none). With several processes
 * (--server-pid A,B,...) CPU and RSS are their sums; a sample counts only if every process
 * could be read. */
struct rl_server_obs {
    int pid;                      /* the first process */
    uint32_t npids;
    int pids[RL_MAX_SERVER_PIDS];
    bool ok;
    uint64_t cpu_ns_measured;     /* CPU used during the measured window */
    uint64_t cpu_ns_by_pid[RL_MAX_SERVER_PIDS];   /* the same, per process */
    uint64_t rss_kb_before;       /* before ringload connected */
    uint64_t rss_kb_ready;        /* every connection open, before the schedule */
    uint64_t rss_kb_peak, rss_kb_avg, rss_kb_end;
    uint32_t samples;
};

/* Runs the whole load (o->workers processes), fills *total and *srv. Returns the exit code
 * contribution of the run itself (0, or 1 when a worker reported a failed check or nothing
 * connected), or 2 on a setup error. *total must be large (histograms): the caller allocates it. */
int rl_workers_run(const struct rl_opts *o, struct rl_stats *total, struct rl_server_obs *srv);

#endif
