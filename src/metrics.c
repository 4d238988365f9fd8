/* metrics.c: the Prometheus exposition (see metrics.h). */
#include "metrics.h"

#include "conn.h"
#include "app.h"
#include "stats.h"
#include "store/store.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SUM(field) sum_stat(s, offsetof(struct core_stats, field))

static uint64_t sum_stat(const struct app_shared *s, size_t off)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < s->group->ncores; i++)
        v += stat_get((const stat_t *)((const char *)&s->group->cores[i].stats + off));
    return v;
}

static void head(jw *w, const char *name, const char *type, const char *help)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    jw_raw(w, line, (size_t)n);
}

static void sample(jw *w, const char *name, const char *labels, double v)
{
    char line[512];
    int n = labels && *labels ? snprintf(line, sizeof line, "%s{%s} %.17g\n", name, labels, v)
                              : snprintf(line, sizeof line, "%s %.17g\n", name, v);
    jw_raw(w, line, (size_t)n);
}

static void one(jw *w, const char *name, const char *type, const char *help, double v)
{
    head(w, name, type, help);
    sample(w, name, NULL, v);
}

static void histogram(jw *w, const struct app_shared *s, size_t off, const char *name, const char *help)
{
    head(w, name, "histogram", help);
    uint64_t cum = 0;
    char label[64], metric[160];
    snprintf(metric, sizeof metric, "%s_bucket", name);
    for (int b = 0; b < HIST_BUCKETS; b++) {
        cum += sum_stat(s, off + offsetof(struct hist, bucket) + (size_t)b * sizeof(stat_t));
        if (b == HIST_BUCKETS - 1) snprintf(label, sizeof label, "le=\"+Inf\"");
        else snprintf(label, sizeof label, "le=\"%g\"", (double)hist_bounds_ns[b] / 1e9);
        sample(w, metric, label, (double)cum);
    }
    /* count is read after the buckets: it may be ahead, never behind them */
    uint64_t count = sum_stat(s, off + offsetof(struct hist, count));
    if (count < cum) count = cum;
    snprintf(metric, sizeof metric, "%s_sum", name);
    sample(w, metric, NULL, (double)sum_stat(s, off + offsetof(struct hist, sum_ns)) / 1e9);
    snprintf(metric, sizeof metric, "%s_count", name);
    sample(w, metric, NULL, (double)count);
}

static void process_metrics(jw *w)
{
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    double cpu = 0, rss = 0, start = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        char *p = strrchr(buf, ')');       /* fields after the command name */
        unsigned long utime = 0, stime = 0;
        unsigned long long starttime = 0;
        long rss_pages = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %*u %ld",
                        &utime, &stime, &starttime, &rss_pages) == 4) {
            cpu = (double)(utime + stime) / (double)tck;
            rss = (double)rss_pages * (double)page;
            double boot = 0;
            FILE *st = fopen("/proc/stat", "r");
            if (st) {
                char line[256];
                while (fgets(line, sizeof line, st))
                    if (sscanf(line, "btime %lf", &boot) == 1) break;
                fclose(st);
            }
            start = boot + (double)starttime / (double)tck;
        }
    }
    double fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d)) fds++;
        closedir(d);
        fds -= 3;                          /* ".", ".." and the directory's own fd */
    }
    one(w, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", cpu);
    one(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
    one(w, "process_open_fds", "gauge", "Number of open file descriptors (connections live in io_uring fixed-file tables, not here).", fds);
    one(w, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", start);
}

void metrics_write(const struct app_shared *s, jw *w, uint64_t now_ms)
{
    char labels[128];
    head(w, "ringroom_build_info", "gauge", "Build information (always 1).");
    snprintf(labels, sizeof labels, "version=\"%s\"", s->version);
    sample(w, "ringroom_build_info", labels, 1);

    head(w, "ringroom_connections", "gauge", "Open connections (HTTP and WebSocket) per core.");
    for (uint32_t i = 0; i < s->group->ncores; i++) {
        snprintf(labels, sizeof labels, "core=\"%u\"", i);
        sample(w, "ringroom_connections", labels, (double)stat_get(&s->group->cores[i].stats.conns));
    }
    one(w, "ringroom_websocket_connections", "gauge", "Open WebSocket connections.", (double)SUM(ws_conns));
    one(w, "ringroom_connections_accepted_total", "counter", "Connections accepted.", (double)SUM(accepted));
    one(w, "ringroom_connections_rejected_total", "counter", "Connections refused over --max-conns.", (double)SUM(rejected));
    one(w, "ringroom_rooms", "gauge", "Rooms in memory.", (double)SUM(rooms));
    one(w, "ringroom_http_requests_total", "counter", "HTTP requests parsed.", (double)SUM(http_requests));

    head(w, "ringroom_messages_received_total", "counter", "Protocol messages received on /ws, by type.");
    for (int t = 0; t < MSG_TYPE_COUNT; t++) {
        if (t >= MSG_JOINED && t <= MSG_BYE) continue;      /* server-only types */
        snprintf(labels, sizeof labels, "type=\"%s\"", msg_type_names[t]);
        sample(w, "ringroom_messages_received_total", labels,
               (double)sum_stat(s, offsetof(struct core_stats, msgs_in) + (size_t)t * sizeof(stat_t)));
    }
    head(w, "ringroom_messages_sent_total", "counter", "Protocol messages delivered on /ws (one per receiving connection), by type.");
    for (int t = 0; t < MSG_TYPE_COUNT; t++) {
        if (t == MSG_JOIN || t == MSG_LEAVE || t == MSG_OTHER) continue;  /* client-only types */
        snprintf(labels, sizeof labels, "type=\"%s\"", msg_type_names[t]);
        sample(w, "ringroom_messages_sent_total", labels,
               (double)sum_stat(s, offsetof(struct core_stats, msgs_out) + (size_t)t * sizeof(stat_t)));
    }
    one(w, "ringroom_websocket_messages_received_total", "counter", "WebSocket data messages received (/ws and /echo).", (double)SUM(ws_msgs_in));
    one(w, "ringroom_websocket_messages_sent_total", "counter", "WebSocket frames queued (/ws and /echo).", (double)SUM(ws_msgs_out));
    one(w, "ringroom_received_bytes_total", "counter", "Bytes received from clients.", (double)SUM(bytes_in));
    one(w, "ringroom_sent_bytes_total", "counter", "Bytes sent to clients.", (double)SUM(bytes_out));

    head(w, "ringroom_errors_total", "counter", "Protocol error messages sent to clients, by code.");
    for (int e = ERR_NONE + 1; e < ERR_COUNT; e++) {
        snprintf(labels, sizeof labels, "code=\"%s\"", err_code_names[e]);
        sample(w, "ringroom_errors_total", labels,
               (double)sum_stat(s, offsetof(struct core_stats, errors) + (size_t)e * sizeof(stat_t)));
    }
    head(w, "ringroom_websocket_closes_total", "counter", "WebSocket closes by close code (1006: connection lost without a close frame).");
    for (int k = 1; k < CLOSE_CODE_SLOTS; k++) {
        if (!stats_close_codes[k]) continue;
        snprintf(labels, sizeof labels, "code=\"%u\"", stats_close_codes[k]);
        sample(w, "ringroom_websocket_closes_total", labels,
               (double)sum_stat(s, offsetof(struct core_stats, closes_by_code) + (size_t)k * sizeof(stat_t)));
    }
    snprintf(labels, sizeof labels, "code=\"other\"");
    sample(w, "ringroom_websocket_closes_total", labels, (double)SUM(closes_by_code[0]));

    one(w, "ringroom_ot_ops_total", "counter", "OT operations applied to documents.", (double)SUM(ot_ops));
    histogram(w, s, offsetof(struct core_stats, op_latency), "ringroom_op_latency_seconds",
              "Time to handle an op message: transform, apply, hand to the op log (the ack follows when it is durable: ringroom_store_*_seconds).");
    histogram(w, s, offsetof(struct core_stats, broadcast), "ringroom_broadcast_seconds",
              "Time to queue one room message to every member.");
    histogram(w, s, offsetof(struct core_stats, store_write), "ringroom_store_write_seconds",
              "Op log: time from a write being submitted to its completion.");
    histogram(w, s, offsetof(struct core_stats, store_fsync), "ringroom_store_fsync_seconds",
              "Op log: time from a write completing to the fdatasync that makes it durable completing.");
    one(w, "ringroom_store_errors_total", "counter", "Op log writes or fdatasyncs that failed (ENOSPC, EIO...); ops are refused until one succeeds.", (double)SUM(store_errors));
    one(w, "ringroom_store_degraded", "gauge", "1 while the op log cannot write.", store_degraded(s->store) ? 1 : 0);
    one(w, "ringroom_broadcast_deliveries_total", "counter", "Room messages queued to members (fan-out).", (double)SUM(broadcast_deliveries));
    one(w, "ringroom_backlog_drops_total", "counter", "Slow readers closed because their output backlog passed --max-backlog.", (double)SUM(backlog_drops));
    one(w, "ringroom_recv_buffer_exhausted_total", "counter", "Times a receive found the provided-buffer ring empty (ENOBUFS).", (double)SUM(enobufs));

    head(w, "ringroom_handovers_total", "counter", "Connections handed to the core that owns their room, by result.");
    sample(w, "ringroom_handovers_total", "result=\"ok\"", (double)SUM(handovers_ok));
    sample(w, "ringroom_handovers_total", "result=\"failed\"", (double)SUM(handovers_failed));

    head(w, "ringroom_loop_busy_seconds_total", "counter", "Time each core spent outside io_uring_enter waits (busy ratio = rate of this).");
    for (uint32_t i = 0; i < s->group->ncores; i++) {
        snprintf(labels, sizeof labels, "core=\"%u\"", i);
        sample(w, "ringroom_loop_busy_seconds_total", labels, (double)stat_get(&s->group->cores[i].stats.busy_ns) / 1e9);
    }
    head(w, "ringroom_loop_iterations_total", "counter", "Event loop turns per core.");
    for (uint32_t i = 0; i < s->group->ncores; i++) {
        snprintf(labels, sizeof labels, "core=\"%u\"", i);
        sample(w, "ringroom_loop_iterations_total", labels, (double)stat_get(&s->group->cores[i].stats.loop_turns));
    }
    if (s->cfg->redis[0]) {              /* --redis (src/cluster/) */
        one(w, "ringroom_redis_up", "gauge", "1 while every core's links to Redis are up.",
            SUM(redis_up) == s->group->ncores ? 1 : 0);
        histogram(w, s, offsetof(struct core_stats, redis_rtt), "ringroom_redis_roundtrip_seconds",
                  "Redis: time from a command being queued to its reply.");
        one(w, "ringroom_redis_commit_conflicts_total", "counter", "Op commits refused because another instance committed that revision first (the op is rebased and sent again).", (double)SUM(redis_conflicts));
        one(w, "ringroom_redis_reconnects_total", "counter", "Redis links re-established after a loss.", (double)SUM(redis_reconnects));
        one(w, "ringroom_redis_rooms_subscribed", "gauge", "Rooms whose Redis channel is subscribed.", (double)SUM(redis_rooms));
        one(w, "ringroom_redis_catchup_ops_total", "counter", "Ops read from rooms' Redis logs to fill a gap (after a reconnect or a conflict).", (double)SUM(redis_catchup_ops));
    }
    one(w, "ringroom_draining", "gauge", "1 while the server drains after SIGTERM.", atomic_load_explicit(&s->group->draining, memory_order_relaxed) ? 1 : 0);
    one(w, "ringroom_uptime_seconds", "gauge", "Seconds since the server started.", (double)(now_ms - s->start_ms) / 1000.0);
    process_metrics(w);
}
