/* rl_report.h: the end of a run: figures derived from the merged statistics, the JSON report
 * (schema in docs/ringload.md), the human summary and the percentile spectrum file.
 *
 * rl_report points at the caller's options, statistics and server observations (not owned)
 * and holds the derived values, so the three outputs and the SLO check agree exactly.
 */
#ifndef RINGLOAD_REPORT_H
#define RINGLOAD_REPORT_H

#include "rl_hist.h"
#include "rl_opts.h"
#include "rl_slo.h"
#include "rl_stats.h"
#include "rl_workers.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define RL_REPORT_SCHEMA_VERSION 1

struct rl_report {
    const struct rl_opts *o;
    const struct rl_stats *st;
    const struct rl_server_obs *srv;
    rl_hist_summary lat, ack, connect, slip;
    rl_hist_summary lat_cross;    /* deliveries across instances (several --url entries) */
    bool closed_loop;
    bool has_loss;
    bool has_ack;
    double measured_s;
    double target_rate;           /* messages/s (churn: connections/s); 0 if none */
    double tx_per_s, rx_per_s;
    uint64_t lost;
    double loss_ratio;
    double client_cpu_util, client_cpu_us_per_msg;
    double server_cpu_util, server_cpu_us_per_sent, server_cpu_us_per_received;
    double server_rss_bytes_per_conn;
    struct rl_slo slo[RL_SLO_MAX];
    size_t nslo;
    bool slo_pass;
    int exit_code;
};

void rl_report_build(struct rl_report *rep, const struct rl_opts *o, const struct rl_stats *st,
                     const struct rl_server_obs *srv);

/* Each returns 0 or -errno (and says why on stderr). */
int rl_report_json(const struct rl_report *rep, const char *path);
int rl_report_spectrum(const struct rl_report *rep, const char *path);
void rl_report_human(const struct rl_report *rep, FILE *out);

/* "123us", "1.23ms", "1.234s". */
void rl_report_fmt_ns(char *buf, size_t cap, uint64_t ns);

#endif
