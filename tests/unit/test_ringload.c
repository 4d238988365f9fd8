/* test_ringload.c: ringload's measuring parts, linked against the real loadgen objects
 * (libringload.a: rl_hist, rl_track, rl_slo, and rl_report with what it calls, rl_opts and
 * rl_stats; rl_report's JSON writer comes from libringbase.a).
 *
 * The histogram keeps 3 significant digits from 1 us to 60 s (every recorded value comes back
 * from its bucket within 1/1024) and is exact below 2048 ns; percentiles go by rank on known
 * distributions; merge = recording everything in one; values past the range are clamped and
 * counted. The per-sender window tells in-order, late, duplicate and untracked apart. --slo
 * expressions parse, bad ones are rejected, and they compare against a report (one filled by
 * hand, and one rl_report_build makes from options and statistics). --url lists (several
 * server instances) parse, bad entries and too many are rejected with a reason, every room's
 * members are spread over the instances, and per-instance counts merge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rl_hist.h"
#include "rl_opts.h"
#include "rl_report.h"
#include "rl_slo.h"
#include "rl_stats.h"
#include "rl_track.h"

#include <math.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* |got - want| <= tol, saying the numbers when not */
#define assert_near(got, want, tol)                                                              \
    do {                                                                                         \
        double got_ = (double)(got), want_ = (double)(want), tol_ = (double)(tol);               \
        if (!(fabs(got_ - want_) <= tol_))                                                       \
            fail_msg("%s = %.3f, want %.3f within %.3f", #got, got_, want_, tol_);              \
    } while (0)

/* Histograms (about 250 KiB each), statistics and the report are static, not on the stack;
 * nothing is allocated, so a failed assertion leaves no leak for LeakSanitizer to report. */
static rl_hist h1, h2, h3;
static struct rl_stats stats, stats2;
static struct rl_report report;

static rl_hist *hist_empty(rl_hist *h)
{
    rl_hist_reset(h);
    return h;
}

/* ---- histogram precision ---- */

static void test_hist_three_digits_from_1us_to_60s(void **state)
{
    (void)state;
    /* every value from 1 us to 60 s on a geometric grid: its bucket holds it, within 1/1024 */
    int bad = 0;
    uint64_t first_bad = 0;
    for (double v = 1000; v <= 60e9; v *= 1.0007) {
        uint64_t x = (uint64_t)v;
        size_t i = rl_hist_index(x);
        uint64_t lo = rl_hist_lowest_equivalent(i), hi = rl_hist_highest_equivalent(i);
        if (x < lo || x > hi || (double)(hi - lo) > (double)x / 1024.0) {
            if (!bad++) first_bad = x;
        }
    }
    if (bad) fail_msg("%d values outside their bucket or bucket too wide (first: %llu ns)", bad,
                      (unsigned long long)first_bad);
}

static void test_hist_exact_below_2048ns(void **state)
{
    (void)state;
    for (uint64_t x = 0; x < 2048; x++) assert_int_equal(rl_hist_lowest_equivalent(rl_hist_index(x)), x);
}

static void test_hist_single_value_comes_back(void **state)
{
    (void)state;
    /* a single value comes back as itself (capped at the exact max) */
    rl_hist *h = hist_empty(&h1);
    const uint64_t samples[] = { 1000, 1234567, 49999999, 60000000000ull, 3 };
    for (size_t k = 0; k < NELEM(samples); k++) {
        rl_hist_reset(h);
        rl_hist_record(h, samples[k]);
        assert_int_equal(rl_hist_percentile(h, 50), samples[k]);
    }
}

/* ---- percentiles ---- */

static void test_percentiles_of_uniform_1us_to_100ms(void **state)
{
    (void)state;
    /* 1..100000 us uniformly: percentile p is p% of 100 ms, within 0.1% */
    rl_hist *h = hist_empty(&h1);
    for (uint64_t us = 1; us <= 100000; us++) rl_hist_record(h, us * 1000);
    rl_hist_summary s;
    rl_hist_summarize(h, &s);
    const struct { double p; uint64_t got; } want[] = {
        { 50, s.p50_ns }, { 90, s.p90_ns }, { 95, s.p95_ns }, { 99, s.p99_ns }, { 99.9, s.p999_ns },
    };
    for (size_t k = 0; k < NELEM(want); k++) {
        double exp = want[k].p / 100.0 * 100000.0 * 1000.0;
        assert_near(want[k].got, exp, exp / 1000.0);
        /* the summary's one pass and rl_hist_percentile agree */
        assert_int_equal(rl_hist_percentile(h, want[k].p), want[k].got);
    }
    assert_int_equal(s.max_ns, 100000000);
    assert_int_equal(s.min_ns, 1000);
    assert_int_equal(s.count, 100000);
    assert_near(s.mean_ns, 50000.5 * 1000, 1);
}

static void test_percentiles_of_90_fast_10_slow(void **state)
{
    (void)state;
    /* 90% at 100 us, 10% at 50 ms: p50 and p90 are fast, p95 and p99 are slow */
    rl_hist *h = hist_empty(&h1);
    rl_hist_record_n(h, 100000, 900);
    rl_hist_record_n(h, 50000000, 100);
    rl_hist_summary s;
    rl_hist_summarize(h, &s);
    assert_in_range(s.p50_ns, 0, 100099);
    assert_in_range(s.p90_ns, 0, 100099);
    assert_int_equal(s.p95_ns, 50000000);               /* >= 50 ms and <= 50 ms */
    assert_true(s.p99_ns >= 50000000);
}

/* ---- merge ---- */

static void test_merge_equals_one_histogram_of_everything(void **state)
{
    (void)state;
    rl_hist *a = hist_empty(&h1), *b = hist_empty(&h2), *h = hist_empty(&h3);
    for (uint64_t k = 1; k <= 1000; k++) rl_hist_record(k % 2 ? a : b, k * 7919);
    rl_hist_merge(a, b);
    for (uint64_t k = 1; k <= 1000; k++) rl_hist_record(h, k * 7919);
    assert_int_equal(a->count, h->count);
    assert_int_equal(a->min, h->min);
    assert_int_equal(a->max, h->max);
    assert_memory_equal(a->counts, h->counts, sizeof a->counts);
}

/* ---- range ---- */

static void test_values_past_the_range_are_clamped_and_counted(void **state)
{
    (void)state;
    rl_hist *h = hist_empty(&h1);
    rl_hist_record(h, RL_HIST_MAX_VALUE + 5);
    assert_int_equal(h->saturated, 1);
    assert_int_equal(h->max, RL_HIST_MAX_VALUE);
}

/* ---- per-sender tracking window ---- */

static void test_seqwin_verdicts(void **state)
{
    (void)state;
    rl_seqwin w = { 0 };
    assert_int_equal(rl_seqwin_see(&w, 0), RL_SEQ_IN_ORDER);      /* first */
    assert_int_equal(rl_seqwin_see(&w, 1), RL_SEQ_IN_ORDER);      /* next */
    assert_int_equal(rl_seqwin_see(&w, 1), RL_SEQ_DUPLICATE);
    assert_int_equal(rl_seqwin_see(&w, 4), RL_SEQ_IN_ORDER);      /* jump ahead (a gap) */
    assert_int_equal(rl_seqwin_see(&w, 3), RL_SEQ_LATE);          /* fills the gap */
    assert_int_equal(rl_seqwin_see(&w, 3), RL_SEQ_DUPLICATE);     /* late, then a duplicate */
    assert_int_equal(rl_seqwin_see(&w, 2), RL_SEQ_LATE);          /* the other gap */
    assert_int_equal(rl_seqwin_see(&w, 200), RL_SEQ_IN_ORDER);    /* far ahead */
    assert_int_equal(rl_seqwin_see(&w, 199), RL_SEQ_LATE);        /* just behind */
    assert_int_equal(rl_seqwin_see(&w, 100), RL_SEQ_UNTRACKED);   /* too far behind */
    assert_int_equal(rl_seqwin_see(&w, 200), RL_SEQ_DUPLICATE);   /* duplicate of the highest */
}

/* ---- --slo ---- */

static void test_slo_parse(void **state)
{
    (void)state;
    struct rl_slo e[RL_SLO_MAX];
    size_t n = 0;
    char err[256] = "";
    if (!rl_slo_parse("p95<50ms, loss<0.01%,p99.9<=2s,errors=0,connect_p99<1s,ack_p50<300us", e, &n, err, sizeof err))
        fail_msg("parse: %s", err);
    assert_int_equal(n, 6);
    assert_int_equal(e[0].op, RL_SLO_LT);
    assert_true(e[0].value == 50000);
    assert_string_equal(e[0].metric, "p95");
    assert_true(e[1].value == 0.0001);
    assert_string_equal(e[1].text, "loss<0.01%");
    assert_int_equal(e[2].op, RL_SLO_LE);
    assert_true(e[2].value == 2e6);
    assert_true(e[5].value == 300);
    assert_string_equal(e[5].metric, "ack_p50");
}

static void test_slo_rejects_bad_expressions(void **state)
{
    (void)state;
    struct rl_slo e[RL_SLO_MAX];
    size_t n;
    char err[256];
    const char *bad[] = { "p95 50ms", "p95<50", "p42<1ms", "loss<1x", "p95<", "latency<1ms", "p95<50ms,,loss<1%" };
    for (size_t k = 0; k < NELEM(bad); k++) {
        err[0] = '\0';
        if (rl_slo_parse(bad[k], e, &n, err, sizeof err)) fail_msg("accepted '%s'", bad[k]);
        if (!err[0]) fail_msg("rejected '%s' without saying why", bad[k]);
    }
}

static void test_slo_compares_against_a_report(void **state)
{
    (void)state;
    struct rl_slo e[RL_SLO_MAX];
    size_t n;
    char err[256] = "";
    struct rl_report rep;
    memset(&rep, 0, sizeof rep);
    rep.lat.count = 10;
    rep.lat.p95_ns = 49999000;
    rep.has_loss = true;
    rep.loss_ratio = 0.0001;
    if (!rl_slo_parse("p95<50ms,loss<0.01%,loss<=0.01%", e, &n, err, sizeof err)) fail_msg("parse: %s", err);
    assert_false(rl_slo_check(e, n, &rep));             /* loss<0.01% must fail at exactly 0.01% */
    assert_true(e[0].pass);
    assert_false(e[1].pass);
    assert_true(e[2].pass);
    /* no samples: a latency objective fails */
    rep.lat.count = 0;
    assert_true(rl_slo_parse("p95<50ms", e, &n, err, sizeof err));
    assert_false(rl_slo_check(e, n, &rep));
}

static void test_slo_against_a_built_report(void **state)
{
    (void)state;
    /* what ringload's main does: options, the merged statistics, rl_report_build, the check */
    struct rl_opts o;
    char err[256] = "";
    char *argv[] = { "ringload", "--url", "ws://127.0.0.1:9/echo", NULL };
    if (rl_opts_parse(&o, 3, argv, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    struct rl_stats *st = &stats;
    rl_stats_init(st);
    for (uint64_t us = 1; us <= 1000; us++) rl_hist_record(&st->lat, us * 1000);   /* p99 ~ 990 us */
    rl_hist_record(&st->connect, 5000000);                                         /* one 5 ms connect */
    st->sent = 1000;
    st->expected = 1000;
    st->received = 999;                                 /* loss 0.1% */
    st->duplicates = 2;
    st->errors[RL_ERR_SKIPPED] = 1;
    st->t_measure_start = 1000;
    st->t_measure_end = 1000 + 1000000000ull;           /* 1 s measured */
    struct rl_report *rep = &report;
    rl_report_build(rep, &o, st, NULL);
    assert_true(rep->has_loss);
    assert_int_equal(rep->lost, 1);
    assert_near(rep->loss_ratio, 0.001, 1e-12);
    assert_near(rep->rx_per_s, 999, 1e-9);

    struct rl_slo e[RL_SLO_MAX];
    size_t n;
    const char *spec = "p99<1ms,loss<0.2%,loss<0.05%,errors<=1,errors=0,duplicates<=2,duplicates<2,"
                       "rx_rate>=999,connect_max<10ms,ack_p50<1s";
    if (!rl_slo_parse(spec, e, &n, err, sizeof err)) fail_msg("parse: %s", err);
    assert_int_equal(n, 10);
    assert_false(rl_slo_check(e, n, rep));
    const bool want[] = { true, true, false, true, false, true, false, true, true, false };
    for (size_t k = 0; k < n; k++)
        if (e[k].pass != want[k]) fail_msg("'%s': %s (actual %g)", e[k].text, e[k].pass ? "pass" : "fail", e[k].actual);
    assert_near(e[0].actual, (double)rep->lat.p99_ns / 1e3, 0);
    assert_near(e[0].actual, 990, 1);
    assert_near(e[4].actual, 1, 0);                     /* errors: the one skipped send */
    assert_near(e[8].actual, 5000, 5);                  /* connect_max in us */
    /* ack_ reads the ot acks, which an echo run has none of */
    assert_false(rep->has_ack);
    assert_int_equal(rep->ack.count, 0);
}


/* ---- --url lists (several server instances) ---- */

static void test_url_list_valid(void **state)
{
    (void)state;
    struct rl_target t[RL_MAX_TARGETS];
    uint32_t n = 99;
    char err[256] = "";
    if (!rl_opts_parse_urls("ws://127.0.0.1:8080/ws", t, RL_MAX_TARGETS, &n, err, sizeof err)) fail_msg("one: %s", err);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].url, "ws://127.0.0.1:8080/ws");
    assert_string_equal(t[0].host, "127.0.0.1");
    assert_int_equal(t[0].port, 8080);
    assert_string_equal(t[0].path, "/ws");

    /* three instances, blanks around entries, localhost, another loopback address, no path */
    if (!rl_opts_parse_urls("ws://127.0.0.1:9001/ws, ws://localhost:9002/ws ,\tws://127.0.0.3:9003", t, RL_MAX_TARGETS,
                            &n, err, sizeof err))
        fail_msg("three: %s", err);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].url, "ws://127.0.0.1:9001/ws");
    assert_string_equal(t[1].url, "ws://localhost:9002/ws");           /* as given, trimmed */
    assert_string_equal(t[1].host, "127.0.0.1");
    assert_int_equal(t[1].port, 9002);
    assert_string_equal(t[2].host, "127.0.0.3");
    assert_int_equal(t[2].port, 9003);
    assert_string_equal(t[2].path, "/");

    /* the same instance more than once is allowed (a smoke test against one server) */
    if (!rl_opts_parse_urls("ws://127.0.0.1:1/ws,ws://127.0.0.1:1/ws", t, RL_MAX_TARGETS, &n, err, sizeof err))
        fail_msg("repeated: %s", err);
    assert_int_equal(n, 2);

    /* exactly the maximum */
    char list[RL_URL_LIST_MAX];
    size_t len = 0;
    for (uint32_t k = 0; k < RL_MAX_TARGETS; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%sws://127.0.0.%u:%u/ws", k ? "," : "", k + 1, 9000 + k);
    if (!rl_opts_parse_urls(list, t, RL_MAX_TARGETS, &n, err, sizeof err)) fail_msg("%u: %s", RL_MAX_TARGETS, err);
    assert_int_equal(n, RL_MAX_TARGETS);
    assert_int_equal(t[RL_MAX_TARGETS - 1].port, 9000 + RL_MAX_TARGETS - 1);
    assert_string_equal(t[RL_MAX_TARGETS - 1].host, "127.0.0.16");
}

static void test_url_list_rejects_bad_entries(void **state)
{
    (void)state;
    struct rl_target t[RL_MAX_TARGETS];
    uint32_t n;
    char err[256];
    const struct { const char *list, *why; } bad[] = {
        { "", "empty" },
        { " ", "empty" },
        { ",", "entry 1" },
        { "ws://127.0.0.1:1/ws,", "entry 2" },
        { ",ws://127.0.0.1:1/ws", "entry 1" },
        { "ws://127.0.0.1:1/ws,,ws://127.0.0.1:2/ws", "entry 2" },
        { "ws://127.0.0.1:1/ws, ,ws://127.0.0.1:2/ws", "entry 2" },
        { "ws://127.0.0.1:1/ws,http://127.0.0.1:2/ws", "ws://" },
        { "ws://127.0.0.1:1/ws,wss://127.0.0.1:2/ws", "ws://" },
        { "ws://127.0.0.1:1/ws,ws://10.0.0.1:2/ws", "loopback" },
        { "ws://127.0.0.1:1/ws,ws://example.com:2/ws", "loopback" },
        { "ws://127.0.0.1:0/ws", "HOST:PORT" },
        { "ws://127.0.0.1:99999/ws", "HOST:PORT" },
        { "ws://127.0.0.1:80x/ws", "HOST:PORT" },
        { "ws://127.0.0.1:/ws", "HOST:PORT" },
        { "ws:///ws", "host" },
        { "ws://127.0.0.1:1/ws ws://127.0.0.1:2/ws", "commas" },     /* a blank is not a separator */
    };
    for (size_t k = 0; k < NELEM(bad); k++) {
        err[0] = '\0';
        if (rl_opts_parse_urls(bad[k].list, t, RL_MAX_TARGETS, &n, err, sizeof err)) fail_msg("accepted '%s'", bad[k].list);
        if (!strstr(err, bad[k].why)) fail_msg("'%s' rejected with '%s', which does not say '%s'", bad[k].list, err, bad[k].why);
    }
}

static void test_url_list_too_many(void **state)
{
    (void)state;
    struct rl_target t[RL_MAX_TARGETS];
    uint32_t n;
    char err[256] = "";
    char list[RL_URL_LIST_MAX];
    size_t len = 0;
    for (uint32_t k = 0; k <= RL_MAX_TARGETS; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%sws://127.0.0.1:%u/ws", k ? "," : "", 9000 + k);
    assert_false(rl_opts_parse_urls(list, t, RL_MAX_TARGETS, &n, err, sizeof err));
    assert_non_null(strstr(err, "more than 16"));
    /* a smaller limit is honoured too */
    assert_false(rl_opts_parse_urls("ws://127.0.0.1:1/ws,ws://127.0.0.1:2/ws,ws://127.0.0.1:3/ws", t, 2, &n, err, sizeof err));
    assert_non_null(strstr(err, "more than 2"));

    /* through the command line: too many, a bad entry, the default */
    struct rl_opts o;
    char *argv[] = { "ringload", "--url", list, NULL };
    assert_int_equal(rl_opts_parse(&o, 3, argv, err, sizeof err), RL_OPTS_ERROR);
    assert_non_null(strstr(err, "more than 16"));
    char bad_entry[] = "ws://127.0.0.1:1/ws,ws://192.168.1.1:2/ws";
    argv[2] = bad_entry;
    assert_int_equal(rl_opts_parse(&o, 3, argv, err, sizeof err), RL_OPTS_ERROR);
    assert_non_null(strstr(err, "loopback"));
    char *noargs[] = { "ringload", "--scenario", "chat", NULL };
    if (rl_opts_parse(&o, 3, noargs, err, sizeof err) != RL_OPTS_OK) fail_msg("default: %s", err);
    assert_int_equal(o.ntargets, 1);
    assert_string_equal(o.targets[0].url, "ws://127.0.0.1:8080/ws");
}

static void test_server_pid_list(void **state)
{
    (void)state;
    struct rl_opts o;
    char err[256] = "";
    char one[] = "123", three[] = "1,22,333";
    char *argv[] = { "ringload", "--server-pid", one, NULL };
    if (rl_opts_parse(&o, 3, argv, err, sizeof err) != RL_OPTS_OK) fail_msg("one: %s", err);
    assert_int_equal(o.nserver_pids, 1);
    assert_int_equal(o.server_pids[0], 123);
    argv[2] = three;
    if (rl_opts_parse(&o, 3, argv, err, sizeof err) != RL_OPTS_OK) fail_msg("three: %s", err);
    assert_int_equal(o.nserver_pids, 3);
    assert_int_equal(o.server_pids[2], 333);
    char *none[] = { "ringload", NULL };
    if (rl_opts_parse(&o, 1, none, err, sizeof err) != RL_OPTS_OK) fail_msg("none: %s", err);
    assert_int_equal(o.nserver_pids, 0);
    char b1[] = "1,,2", b2[] = "0", b3[] = "1,x", b4[] = "", b5[] = "1,";
    char *bad[] = { b1, b2, b3, b4, b5 };
    for (size_t k = 0; k < NELEM(bad); k++) {
        argv[2] = bad[k];
        if (rl_opts_parse(&o, 3, argv, err, sizeof err) != RL_OPTS_ERROR) fail_msg("accepted '%s'", bad[k]);
    }
    char many[256];
    size_t len = 0;
    for (int k = 0; k <= RL_MAX_SERVER_PIDS; k++) len += (size_t)snprintf(many + len, sizeof many - len, "%s%d", k ? "," : "", k + 1);
    argv[2] = many;
    assert_int_equal(rl_opts_parse(&o, 3, argv, err, sizeof err), RL_OPTS_ERROR);
}

/* Every room's members are spread over the instances, and the instances get equal shares. */
static void test_rooms_spread_over_instances(void **state)
{
    (void)state;
    struct rl_opts o;
    char err[256] = "";
    char urls[] = "ws://127.0.0.1:9001/ws,ws://127.0.0.1:9002/ws,ws://127.0.0.1:9003/ws";
    /* campaign-1m: 10,000 connections in rooms of 100 */
    char *argv[] = { "ringload", "--preset", "campaign-1m", "--url", urls, NULL };
    if (rl_opts_parse(&o, 5, argv, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    assert_int_equal(o.ntargets, 3);
    assert_int_equal(o.room_size, 100);
    uint32_t total[3] = { 0 };
    for (uint32_t room = 0; room < o.rooms; room++) {
        uint32_t per[3] = { 0 };
        for (uint32_t m = 0; m < o.room_size; m++) {
            uint64_t gid = (uint64_t)room * o.room_size + m;
            uint32_t t = rl_opts_target_of(&o, gid);
            assert_in_range(t, 0, 2);
            if (m) assert_int_not_equal(t, rl_opts_target_of(&o, gid - 1));   /* neighbours apart */
            per[t]++;
            total[t]++;
        }
        for (int t = 0; t < 3; t++) assert_in_range(per[t], 33, 34);
    }
    for (int t = 0; t < 3; t++) assert_in_range(total[t], 3333, 3334);

    /* one hot document of 10 editors: 4, 3, 3 */
    char *hot[] = { "ringload", "--scenario", "ot", "--conns", "10", "--room-size", "10", "--url", urls, NULL };
    if (rl_opts_parse(&o, 9, hot, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    uint32_t per[3] = { 0 };
    for (uint64_t gid = 0; gid < 10; gid++) per[rl_opts_target_of(&o, gid)]++;
    assert_int_equal(per[0], 4);
    assert_int_equal(per[1], 3);
    assert_int_equal(per[2], 3);

    /* rooms of 2 over 3 instances: both members always apart, every instance used */
    char *pairs[] = { "ringload", "--scenario", "chat", "--conns", "30", "--room-size", "2", "--url", urls, NULL };
    if (rl_opts_parse(&o, 9, pairs, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    memset(per, 0, sizeof per);
    for (uint64_t gid = 0; gid < 30; gid += 2) {
        assert_int_not_equal(rl_opts_target_of(&o, gid), rl_opts_target_of(&o, gid + 1));
        per[rl_opts_target_of(&o, gid)]++;
        per[rl_opts_target_of(&o, gid + 1)]++;
    }
    for (int t = 0; t < 3; t++) assert_int_equal(per[t], 10);

    /* echo: round robin; one URL: always 0 */
    char *echo[] = { "ringload", "--conns", "7", "--url", urls, NULL };
    if (rl_opts_parse(&o, 5, echo, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    for (uint64_t gid = 0; gid < 7; gid++) assert_int_equal(rl_opts_target_of(&o, gid), gid % 3);
    char one[] = "ws://127.0.0.1:9001/ws";
    char *single[] = { "ringload", "--preset", "campaign-1m", "--url", one, NULL };
    if (rl_opts_parse(&o, 5, single, err, sizeof err) != RL_OPTS_OK) fail_msg("options: %s", err);
    for (uint64_t gid = 0; gid < o.conns; gid += 37) assert_int_equal(rl_opts_target_of(&o, gid), 0);
}

static void test_instance_counts_merge(void **state)
{
    (void)state;
    struct rl_stats *a = &stats, *b = &stats2;
    rl_stats_init(a);
    rl_stats_init(b);
    a->targets[0] = (struct rl_target_stats){ .attempted = 5, .established = 4, .lost = 1, .ot_docs_ok = 2 };
    b->targets[0] = (struct rl_target_stats){ .attempted = 3, .established = 3, .ot_mismatches = 1 };
    b->targets[RL_MAX_TARGETS - 1] = (struct rl_target_stats){ .attempted = 1, .ot_not_held = 2 };
    rl_hist_record(&a->lat_cross, 1000);
    rl_hist_record(&b->lat_cross, 3000);
    rl_stats_merge(a, b);
    assert_int_equal(a->targets[0].attempted, 8);
    assert_int_equal(a->targets[0].established, 7);
    assert_int_equal(a->targets[0].lost, 1);
    assert_int_equal(a->targets[0].ot_docs_ok, 2);
    assert_int_equal(a->targets[0].ot_mismatches, 1);
    assert_int_equal(a->targets[RL_MAX_TARGETS - 1].attempted, 1);
    assert_int_equal(a->targets[RL_MAX_TARGETS - 1].ot_not_held, 2);
    assert_int_equal(a->lat_cross.count, 2);
    assert_int_equal(a->lat_cross.max, 3000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_three_digits_from_1us_to_60s),
        cmocka_unit_test(test_hist_exact_below_2048ns),
        cmocka_unit_test(test_hist_single_value_comes_back),
        cmocka_unit_test(test_percentiles_of_uniform_1us_to_100ms),
        cmocka_unit_test(test_percentiles_of_90_fast_10_slow),
        cmocka_unit_test(test_merge_equals_one_histogram_of_everything),
        cmocka_unit_test(test_values_past_the_range_are_clamped_and_counted),
        cmocka_unit_test(test_seqwin_verdicts),
        cmocka_unit_test(test_slo_parse),
        cmocka_unit_test(test_slo_rejects_bad_expressions),
        cmocka_unit_test(test_slo_compares_against_a_report),
        cmocka_unit_test(test_slo_against_a_built_report),
        cmocka_unit_test(test_url_list_valid),
        cmocka_unit_test(test_url_list_rejects_bad_entries),
        cmocka_unit_test(test_url_list_too_many),
        cmocka_unit_test(test_rooms_spread_over_instances),
        cmocka_unit_test(test_server_pid_list),
        cmocka_unit_test(test_instance_counts_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
