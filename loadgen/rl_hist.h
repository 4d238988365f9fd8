/* rl_hist.h: an HDR-style latency histogram (log buckets, linear sub-buckets).
 *
 * Written here because Debian has no package for HdrHistogram_c. Values are nanoseconds.
 * 2048 linear sub-buckets per power of two give a relative error below 1/1024 (better than
 * 3 significant digits) at every magnitude; values below 2048 ns are exact; the range goes
 * to 2^40 ns (18 minutes), far past the 60 s the benchmark rules ask for; larger values are
 * clamped and counted in `saturated`. min, max and sum are kept exactly. A histogram is one
 * flat block with no pointers (about 250 KiB), so it can live in memory shared between
 * processes and be merged by adding counts. The caller owns the memory.
 */
#ifndef RINGLOAD_HIST_H
#define RINGLOAD_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RL_HIST_SUB_BITS 11                         /* 2048 sub-buckets */
#define RL_HIST_HALF (1u << (RL_HIST_SUB_BITS - 1))  /* 1024 */
#define RL_HIST_MAX_BITS 40                         /* largest tracked value: 2^40 - 1 ns */
#define RL_HIST_BUCKETS (RL_HIST_MAX_BITS - RL_HIST_SUB_BITS + 1)
#define RL_HIST_LEN ((RL_HIST_BUCKETS + 1) * RL_HIST_HALF)
#define RL_HIST_MAX_VALUE ((1ull << RL_HIST_MAX_BITS) - 1)

typedef struct rl_hist {
    uint64_t count;
    uint64_t min, max;        /* exact; min is UINT64_MAX while empty */
    uint64_t saturated;       /* values above RL_HIST_MAX_VALUE (recorded as that value) */
    long double sum;          /* for the mean */
    uint64_t counts[RL_HIST_LEN];
} rl_hist;

/* The percentiles every report shows. */
typedef struct rl_hist_summary {
    uint64_t count;
    double mean_ns;
    uint64_t min_ns, p50_ns, p90_ns, p95_ns, p99_ns, p999_ns, max_ns;
} rl_hist_summary;

void rl_hist_reset(rl_hist *h);
void rl_hist_record(rl_hist *h, uint64_t value_ns);
void rl_hist_record_n(rl_hist *h, uint64_t value_ns, uint64_t n);
/* Adds every count of src to dst. */
void rl_hist_merge(rl_hist *dst, const rl_hist *src);

/* The value at percentile p (0..100): the highest value equivalent to the bucket holding the
 * sample of rank round(p/100 * count) (at least 1), capped at the exact max. 0 if empty. */
uint64_t rl_hist_percentile(const rl_hist *h, double p);
void rl_hist_summarize(const rl_hist *h, rl_hist_summary *s);

/* The percentile spectrum in HdrHistogram's text layout (value in microseconds, percentile as
 * a fraction, total count, 1/(1-percentile)), `ticks` lines per halving of the distance to
 * 100%. Plot with gnuplot: `set logscale x; plot FILE using 4:1 with lines`. */
int rl_hist_write_spectrum(const rl_hist *h, FILE *out, int ticks);

/* Bucket helpers, exposed for tests. */
size_t rl_hist_index(uint64_t value_ns);
uint64_t rl_hist_lowest_equivalent(size_t index);
uint64_t rl_hist_highest_equivalent(size_t index);

#endif
