/* ringload_units.c: unit checks of ringload's measuring parts, run by
 * tests/integration/test_ringload_trust.py (the Makefile builds each file of tests/helpers
 * against src/ only, so the loadgen modules under test are compiled in here).
 *
 * Checks: the histogram keeps 3 significant digits from 1 us to 60 s (every recorded value
 * comes back from its bucket within 1/1024), percentiles by rank on known distributions,
 * merge = recording everything in one; the per-sender window tells in-order, late,
 * duplicate and untracked apart; --slo expressions parse, reject bad ones and compare.
 * Prints one line per failure and "N passed, N failed"; exits 1 on any failure.
 */
#include "rl_hist.c"
#include "rl_slo.c"
#include "rl_track.c"

#include "rl_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* rl_slo.c calls rl_slo_metric (defined in rl_report.c, which needs the JSON writer): a
 * stand-in reading the few fields these checks set. */
bool rl_slo_metric(const struct rl_report *rep, const char *m, double *out)
{
    if (!strcmp(m, "p95")) { *out = (double)rep->lat.p95_ns / 1e3; return rep->lat.count > 0; }
    if (!strcmp(m, "loss")) { *out = rep->loss_ratio; return rep->has_loss; }
    return false;
}

static void hist_precision(void)
{
    static rl_hist h;
    /* every value from 1 us to 60 s on a geometric grid: its bucket holds it, within 1/1024 */
    int bad = 0;
    for (double v = 1000; v <= 60e9; v *= 1.0007) {
        uint64_t x = (uint64_t)v;
        size_t i = rl_hist_index(x);
        uint64_t lo = rl_hist_lowest_equivalent(i), hi = rl_hist_highest_equivalent(i);
        if (x < lo || x > hi || (double)(hi - lo) > (double)x / 1024.0) bad++;
    }
    CHECK(bad == 0, "%d values outside their bucket or bucket too wide", bad);
    /* exact below 2048 ns */
    for (uint64_t x = 0; x < 2048; x++)
        if (rl_hist_lowest_equivalent(rl_hist_index(x)) != x) bad++;
    CHECK(bad == 0, "%d small values not exact", bad);
    /* a single value comes back as itself (capped at the exact max) */
    uint64_t samples[] = { 1000, 1234567, 49999999, 60000000000ull, 3 };
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        rl_hist_reset(&h);
        rl_hist_record(&h, samples[k]);
        CHECK(rl_hist_percentile(&h, 50) == samples[k], "p50 of one %llu is %llu", (unsigned long long)samples[k],
              (unsigned long long)rl_hist_percentile(&h, 50));
    }
}

static void hist_percentiles(void)
{
    static rl_hist h, a, b;
    /* 1..100000 us uniformly: percentile p is p% of 100 ms, within 0.1% */
    rl_hist_reset(&h);
    for (uint64_t us = 1; us <= 100000; us++) rl_hist_record(&h, us * 1000);
    rl_hist_summary s;
    rl_hist_summarize(&h, &s);
    struct { double p; uint64_t got; } want[] = { { 50, s.p50_ns }, { 90, s.p90_ns }, { 95, s.p95_ns },
                                                  { 99, s.p99_ns }, { 99.9, s.p999_ns } };
    for (size_t k = 0; k < 5; k++) {
        double exp = want[k].p / 100.0 * 100000.0 * 1000.0;
        CHECK(fabs((double)want[k].got - exp) <= exp / 1000.0, "p%g = %llu, want %.0f", want[k].p,
              (unsigned long long)want[k].got, exp);
        CHECK(rl_hist_percentile(&h, want[k].p) == want[k].got, "summary and percentile disagree at p%g", want[k].p);
    }
    CHECK(s.max_ns == 100000000 && s.min_ns == 1000 && s.count == 100000, "min/max/count");
    CHECK(fabs(s.mean_ns - 50000.5 * 1000) < 1, "mean %f", s.mean_ns);
    /* 90% at 100 us, 10% at 50 ms: p90 is fast, p95 and p99 are slow */
    rl_hist_reset(&h);
    rl_hist_record_n(&h, 100000, 900);
    rl_hist_record_n(&h, 50000000, 100);
    rl_hist_summarize(&h, &s);
    CHECK(s.p50_ns < 100100 && s.p90_ns < 100100, "p50 %llu p90 %llu", (unsigned long long)s.p50_ns,
          (unsigned long long)s.p90_ns);
    CHECK(s.p95_ns >= 50000000 && s.p99_ns >= 50000000 && s.p95_ns <= 50000000, "p95 %llu p99 %llu",
          (unsigned long long)s.p95_ns, (unsigned long long)s.p99_ns);
    /* merge = one histogram of everything */
    rl_hist_reset(&a);
    rl_hist_reset(&b);
    for (uint64_t k = 1; k <= 1000; k++) {
        rl_hist_record(k % 2 ? &a : &b, k * 7919);
    }
    rl_hist_merge(&a, &b);
    rl_hist_reset(&h);
    for (uint64_t k = 1; k <= 1000; k++) rl_hist_record(&h, k * 7919);
    CHECK(a.count == h.count && a.min == h.min && a.max == h.max && !memcmp(a.counts, h.counts, sizeof a.counts),
          "merged histogram differs");
    /* above the range: clamped and counted */
    rl_hist_reset(&h);
    rl_hist_record(&h, RL_HIST_MAX_VALUE + 5);
    CHECK(h.saturated == 1 && h.max == RL_HIST_MAX_VALUE, "saturation");
}

static void seqwin(void)
{
    rl_seqwin w = { 0 };
    CHECK(rl_seqwin_see(&w, 0) == RL_SEQ_IN_ORDER, "first");
    CHECK(rl_seqwin_see(&w, 1) == RL_SEQ_IN_ORDER, "next");
    CHECK(rl_seqwin_see(&w, 1) == RL_SEQ_DUPLICATE, "duplicate");
    CHECK(rl_seqwin_see(&w, 4) == RL_SEQ_IN_ORDER, "jump ahead (a gap)");
    CHECK(rl_seqwin_see(&w, 3) == RL_SEQ_LATE, "fills the gap: late");
    CHECK(rl_seqwin_see(&w, 3) == RL_SEQ_DUPLICATE, "late then duplicate");
    CHECK(rl_seqwin_see(&w, 2) == RL_SEQ_LATE, "the other gap");
    CHECK(rl_seqwin_see(&w, 200) == RL_SEQ_IN_ORDER, "far ahead");
    CHECK(rl_seqwin_see(&w, 199) == RL_SEQ_LATE, "just behind");
    CHECK(rl_seqwin_see(&w, 100) == RL_SEQ_UNTRACKED, "too far behind");
    CHECK(rl_seqwin_see(&w, 200) == RL_SEQ_DUPLICATE, "duplicate of the highest");
}

static void slo(void)
{
    struct rl_slo e[RL_SLO_MAX];
    size_t n;
    char err[256];
    CHECK(rl_slo_parse("p95<50ms, loss<0.01%,p99.9<=2s,errors=0,connect_p99<1s,ack_p50<300us", e, &n, err, sizeof err) &&
          n == 6, "parse: %s", err);
    CHECK(e[0].op == RL_SLO_LT && e[0].value == 50000 && !strcmp(e[0].metric, "p95"), "p95<50ms");
    CHECK(e[1].value == 0.0001 && !strcmp(e[1].text, "loss<0.01%"), "loss<0.01%% is %g", e[1].value);
    CHECK(e[2].op == RL_SLO_LE && e[2].value == 2e6, "p99.9<=2s");
    CHECK(e[5].value == 300 && !strcmp(e[5].metric, "ack_p50"), "ack_p50<300us");
    const char *bad[] = { "p95 50ms", "p95<50", "p42<1ms", "loss<1x", "p95<", "latency<1ms", "p95<50ms,,loss<1%" };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = '\0';
        CHECK(!rl_slo_parse(bad[k], e, &n, err, sizeof err) && err[0], "accepted '%s'", bad[k]);
    }
    struct rl_report rep;
    memset(&rep, 0, sizeof rep);
    rep.lat.count = 10;
    rep.lat.p95_ns = 49999000;
    rep.has_loss = true;
    rep.loss_ratio = 0.0001;
    CHECK(rl_slo_parse("p95<50ms,loss<0.01%,loss<=0.01%", e, &n, err, sizeof err), "parse");
    CHECK(!rl_slo_check(e, n, &rep), "loss<0.01%% must fail at exactly 0.01%%");
    CHECK(e[0].pass && !e[1].pass && e[2].pass, "verdicts %d %d %d", e[0].pass, e[1].pass, e[2].pass);
    rep.lat.count = 0;
    CHECK(rl_slo_parse("p95<50ms", e, &n, err, sizeof err) && !rl_slo_check(e, n, &rep), "no samples: fail");
}

int main(void)
{
    hist_precision();
    hist_percentiles();
    seqwin();
    slo();
    printf("ringload_units: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
