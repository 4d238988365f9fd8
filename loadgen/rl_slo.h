/* rl_slo.h: service-level thresholds (--slo) parsed once and checked against a report.
 *
 * An expression list is comma-separated `METRIC OP VALUE`: OP is <, <=, >, >= or =;
 * METRIC is a latency percentile (p50 p90 p95 p99 p99.9/p999 max mean; prefix ack_ for ot
 * op->ack latency, connect_ for connection setup) with a duration value (us, ms, s), or
 * loss (a ratio, or a percentage with %), errors, duplicates, reordered (counts),
 * rx_rate / tx_rate (per second). The caller owns the arrays.
 */
#ifndef RINGLOAD_SLO_H
#define RINGLOAD_SLO_H

#include <stdbool.h>
#include <stddef.h>

#define RL_SLO_MAX 16

enum rl_slo_op { RL_SLO_LT, RL_SLO_LE, RL_SLO_GT, RL_SLO_GE, RL_SLO_EQ };

struct rl_slo {
    char text[64];                /* the expression as written (trimmed) */
    char metric[24];
    enum rl_slo_op op;
    double value;                 /* latency: microseconds; loss: ratio; others: as is */
    bool pass;
    double actual;
};

/* Parses `spec` into out[0..*n). On error writes one line to err and returns false. */
bool rl_slo_parse(const char *spec, struct rl_slo *out, size_t *n, char *err, size_t errlen);

/* Value of a metric name in a report; false if the name is unknown. */
struct rl_report;
bool rl_slo_metric(const struct rl_report *rep, const char *metric, double *out);

/* Evaluates every expression; returns true if all pass. */
bool rl_slo_check(struct rl_slo *slo, size_t n, const struct rl_report *rep);

#endif
