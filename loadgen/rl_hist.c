/* rl_hist.c: see rl_hist.h. Layout as in HdrHistogram: bucket 0 holds 0..2047 one value per
 * slot; bucket b > 0 holds [1024 << b, 2048 << b) in 1024 slots of width 2^b. */
#include "rl_hist.h"

#include <math.h>
#include <string.h>

void rl_hist_reset(rl_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t rl_hist_index(uint64_t v)
{
    if (v > RL_HIST_MAX_VALUE) v = RL_HIST_MAX_VALUE;
    unsigned bits = 64u - (unsigned)__builtin_clzll(v | ((1ull << RL_HIST_SUB_BITS) - 1));
    unsigned bucket = bits - RL_HIST_SUB_BITS;          /* 0 for v < 2048 */
    uint64_t sub = v >> bucket;                         /* [1024, 2048) when bucket > 0 */
    return (size_t)bucket * RL_HIST_HALF + (size_t)sub;
}

uint64_t rl_hist_lowest_equivalent(size_t i)
{
    if (i < 2 * RL_HIST_HALF) return i;
    unsigned bucket = (unsigned)(i / RL_HIST_HALF) - 1;
    uint64_t sub = (i % RL_HIST_HALF) + RL_HIST_HALF;
    return sub << bucket;
}

uint64_t rl_hist_highest_equivalent(size_t i)
{
    if (i < 2 * RL_HIST_HALF) return i;
    unsigned bucket = (unsigned)(i / RL_HIST_HALF) - 1;
    return rl_hist_lowest_equivalent(i) + (1ull << bucket) - 1;
}

void rl_hist_record_n(rl_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0) return;
    if (v > RL_HIST_MAX_VALUE) {
        h->saturated += n;
        v = RL_HIST_MAX_VALUE;
    }
    h->counts[rl_hist_index(v)] += n;
    h->count += n;
    h->sum += (long double)v * (long double)n;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void rl_hist_record(rl_hist *h, uint64_t v)
{
    rl_hist_record_n(h, v, 1);
}

void rl_hist_merge(rl_hist *dst, const rl_hist *src)
{
    if (src->count == 0) return;
    for (size_t i = 0; i < RL_HIST_LEN; i++) dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->saturated += src->saturated;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

static uint64_t rank_for(const rl_hist *h, double p)
{
    if (p < 0) p = 0;
    if (p > 100) p = 100;
    uint64_t rank = (uint64_t)llround(p / 100.0 * (double)h->count);
    return rank < 1 ? 1 : rank;
}

uint64_t rl_hist_percentile(const rl_hist *h, double p)
{
    if (h->count == 0) return 0;
    uint64_t rank = rank_for(h, p), seen = 0;
    for (size_t i = 0; i < RL_HIST_LEN; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = rl_hist_highest_equivalent(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}

void rl_hist_summarize(const rl_hist *h, rl_hist_summary *s)
{
    memset(s, 0, sizeof *s);
    s->count = h->count;
    if (h->count == 0) return;
    s->mean_ns = (double)(h->sum / (long double)h->count);
    s->min_ns = h->min;
    s->max_ns = h->max;
    /* one pass for all ranks */
    const double ps[] = { 50, 90, 95, 99, 99.9 };
    uint64_t *outs[] = { &s->p50_ns, &s->p90_ns, &s->p95_ns, &s->p99_ns, &s->p999_ns };
    size_t k = 0;
    uint64_t seen = 0;
    for (size_t i = 0; i < RL_HIST_LEN && k < 5; i++) {
        seen += h->counts[i];
        while (k < 5 && seen >= rank_for(h, ps[k])) {
            uint64_t v = rl_hist_highest_equivalent(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            *outs[k++] = v;
        }
    }
}

int rl_hist_write_spectrum(const rl_hist *h, FILE *out, int ticks)
{
    if (ticks < 1) ticks = 1;
    fprintf(out, "# ringload percentile spectrum (HdrHistogram layout); values in microseconds\n");
    fprintf(out, "# gnuplot: set logscale x; plot 'FILE' using 4:1 with lines\n");
    fprintf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    if (h->count == 0) return ferror(out) ? -1 : 0;
    double level = 0.0;                 /* percent to report next */
    uint64_t seen = 0;
    for (size_t i = 0; i < RL_HIST_LEN; i++) {
        if (!h->counts[i]) continue;
        seen += h->counts[i];
        uint64_t v = rl_hist_highest_equivalent(i);
        if (v > h->max) v = h->max;
        while (level < 100.0 && (double)seen >= level / 100.0 * (double)h->count) {
            if (seen == h->count) break;         /* the last line is written below */
            double frac = level / 100.0;
            fprintf(out, "%12.3f %14.12f %10llu %14.2f\n", (double)v / 1000.0, frac,
                    (unsigned long long)seen, 1.0 / (1.0 - frac));
            /* HdrHistogram's tick spacing: halve the distance to 100% every `ticks` lines */
            double half = pow(2.0, floor(log2(100.0 / (100.0 - level))) + 1.0);
            level += 100.0 / half / ticks;
        }
    }
    fprintf(out, "%12.3f %14.12f %10llu %14s\n", (double)h->max / 1000.0, 1.0,
            (unsigned long long)h->count, "inf");
    fprintf(out, "#[Mean    = %12.3f]\n", (double)(h->sum / (long double)h->count) / 1000.0);
    fprintf(out, "#[Max     = %12.3f, Total count    = %12llu]\n", (double)h->max / 1000.0,
            (unsigned long long)h->count);
    return ferror(out) ? -1 : 0;
}
