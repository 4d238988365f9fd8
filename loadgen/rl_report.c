/* rl_report.c: see rl_report.h. JSON goes through ringroom's jw writer (json.h). */
#include "rl_report.h"

#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef RINGLOAD_VERSION
#define RINGLOAD_VERSION "1"
#endif

void rl_report_fmt_ns(char *buf, size_t cap, uint64_t ns)
{
    if (ns < 10 * 1000ull) snprintf(buf, cap, "%.2fus", (double)ns / 1e3);
    else if (ns < 1000000) snprintf(buf, cap, "%.0fus", (double)ns / 1e3);
    else if (ns < 1000000000) snprintf(buf, cap, "%.2fms", (double)ns / 1e6);
    else snprintf(buf, cap, "%.3fs", (double)ns / 1e9);
}

void rl_report_build(struct rl_report *rep, const struct rl_opts *o, const struct rl_stats *st,
                     const struct rl_server_obs *srv)
{
    memset(rep, 0, sizeof *rep);
    rep->o = o;
    rep->st = st;
    rep->srv = srv;
    rl_hist_summarize(&st->lat, &rep->lat);
    rl_hist_summarize(&st->ack, &rep->ack);
    rl_hist_summarize(&st->connect, &rep->connect);
    rl_hist_summarize(&st->slip, &rep->slip);
    rl_hist_summarize(&st->lat_cross, &rep->lat_cross);
    rep->closed_loop = o->closed_loop;
    rep->has_loss = o->scenario == RL_SC_ECHO || o->scenario == RL_SC_CHAT || o->scenario == RL_SC_OT ||
                    o->scenario == RL_SC_CHURN;
    rep->has_ack = o->scenario == RL_SC_OT;
    uint64_t span = st->t_measure_end > st->t_measure_start ? st->t_measure_end - st->t_measure_start : 0;
    rep->measured_s = (double)span / 1e9;
    rep->target_rate = rl_opts_total_rate(o, (uint32_t)rl_opts_senders(o));
    if (rep->measured_s > 0) {
        rep->tx_per_s = (double)st->sent / rep->measured_s;
        rep->rx_per_s = (double)st->received / rep->measured_s;
    }
    if (rep->has_loss) {
        rep->lost = st->expected > st->received ? st->expected - st->received : 0;
        rep->loss_ratio = st->expected ? (double)rep->lost / (double)st->expected : 0;
    }
    uint64_t msgs = st->sent + st->received;
    if (rep->measured_s > 0) rep->client_cpu_util = (double)st->client_cpu_ns / (rep->measured_s * 1e9);
    if (msgs) rep->client_cpu_us_per_msg = (double)st->client_cpu_ns / 1e3 / (double)msgs;
    if (srv && srv->ok) {
        if (rep->measured_s > 0) rep->server_cpu_util = (double)srv->cpu_ns_measured / (rep->measured_s * 1e9);
        if (st->sent) rep->server_cpu_us_per_sent = (double)srv->cpu_ns_measured / 1e3 / (double)st->sent;
        if (st->received) rep->server_cpu_us_per_received = (double)srv->cpu_ns_measured / 1e3 / (double)st->received;
        uint64_t conns = st->connects_ok ? st->connects_ok : 1;
        if (srv->rss_kb_ready >= srv->rss_kb_before)
            rep->server_rss_bytes_per_conn = (double)(srv->rss_kb_ready - srv->rss_kb_before) * 1024.0 / (double)conns;
    }
}

bool rl_slo_metric(const struct rl_report *rep, const char *m, double *out)
{
    const rl_hist_summary *h = &rep->lat;
    if (!strncmp(m, "ack_", 4)) { h = &rep->ack; m += 4; }
    else if (!strncmp(m, "connect_", 8)) { h = &rep->connect; m += 8; }
    if (!strcmp(m, "p50")) { *out = (double)h->p50_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "p90")) { *out = (double)h->p90_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "p95")) { *out = (double)h->p95_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "p99")) { *out = (double)h->p99_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "p99.9") || !strcmp(m, "p999")) { *out = (double)h->p999_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "max")) { *out = (double)h->max_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "mean")) { *out = h->mean_ns / 1e3; return h->count > 0; }
    if (!strcmp(m, "loss")) { *out = rep->loss_ratio; return rep->has_loss; }
    if (!strcmp(m, "errors")) { *out = (double)rl_stats_error_total(rep->st); return true; }
    if (!strcmp(m, "duplicates")) { *out = (double)rep->st->duplicates; return true; }
    if (!strcmp(m, "reordered")) { *out = (double)rep->st->reordered; return true; }
    if (!strcmp(m, "rx_rate")) { *out = rep->rx_per_s; return true; }
    if (!strcmp(m, "tx_rate")) { *out = rep->tx_per_s; return true; }
    return false;
}

/* ---- JSON ---- */

static void key(jw *w, const char *k, bool *first)
{
    if (!*first) jw_char(w, ',');
    *first = false;
    jw_str(w, k, strlen(k));
    jw_char(w, ':');
}

static void num(jw *w, double v)
{
    char buf[64];
    if (!isfinite(v)) v = 0;
    int n = snprintf(buf, sizeof buf, "%.6g", v);
    if (fabs(v) >= 1e6 && fabs(v) < 1e15 && v == floor(v)) n = snprintf(buf, sizeof buf, "%.0f", v);
    jw_raw(w, buf, (size_t)n);
}

static void kv_u(jw *w, const char *k, uint64_t v, bool *first) { key(w, k, first); jw_uint(w, v); }
static void kv_d(jw *w, const char *k, double v, bool *first) { key(w, k, first); num(w, v); }
static void kv_s(jw *w, const char *k, const char *v, bool *first)
{
    key(w, k, first);
    if (v) jw_str(w, v, strlen(v));
    else jw_lit(w, "null");
}
static void kv_b(jw *w, const char *k, bool v, bool *first) { key(w, k, first); jw_lit(w, v ? "true" : "false"); }
static void kv_null(jw *w, const char *k, bool *first) { key(w, k, first); jw_lit(w, "null"); }

static void hist_obj(jw *w, const char *k, const rl_hist_summary *h, bool *first)
{
    key(w, k, first);
    bool f = true;
    jw_char(w, '{');
    kv_d(w, "p50", (double)h->p50_ns / 1e3, &f);
    kv_d(w, "p90", (double)h->p90_ns / 1e3, &f);
    kv_d(w, "p95", (double)h->p95_ns / 1e3, &f);
    kv_d(w, "p99", (double)h->p99_ns / 1e3, &f);
    kv_d(w, "p999", (double)h->p999_ns / 1e3, &f);
    kv_d(w, "max", (double)h->max_ns / 1e3, &f);
    kv_d(w, "min", (double)h->min_ns / 1e3, &f);
    kv_d(w, "mean", h->mean_ns / 1e3, &f);
    kv_u(w, "count", h->count, &f);
    jw_char(w, '}');
}

int rl_report_json(const struct rl_report *rep, const char *path)
{
    const struct rl_opts *o = rep->o;
    const struct rl_stats *st = rep->st;
    jw w;
    jw_init(&w, 8192);
    bool f = true;
    jw_char(&w, '{');
    kv_s(&w, "schema", "ringload-report", &f);
    kv_u(&w, "schema_version", RL_REPORT_SCHEMA_VERSION, &f);
    kv_s(&w, "ringload_version", RINGLOAD_VERSION, &f);
    kv_s(&w, "scenario", rl_scenario_name(o->scenario), &f);
    kv_s(&w, "preset", o->preset[0] ? o->preset : NULL, &f);
    kv_s(&w, "url", o->url, &f);
    kv_s(&w, "engine", rl_engine_name(o->engine), &f);
    kv_u(&w, "workers", o->workers, &f);
    kv_u(&w, "seed", o->seed, &f);
    kv_u(&w, "conns", o->conns, &f);
    if (o->rooms) {
        kv_u(&w, "rooms", o->rooms, &f);
        kv_u(&w, "room_size", o->room_size, &f);
        kv_u(&w, "senders_per_room", o->senders && o->senders < o->room_size ? o->senders : o->room_size, &f);
    } else {
        kv_null(&w, "rooms", &f);
        kv_null(&w, "room_size", &f);
        kv_null(&w, "senders_per_room", &f);
    }
    kv_s(&w, "mode", rep->closed_loop ? "closed_loop" : "open_loop", &f);
    kv_d(&w, "duration_s", rep->measured_s, &f);
    kv_d(&w, "warmup_s", o->warmup_ms / 1e3, &f);
    key(&w, "rate", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        if (rep->closed_loop || o->scenario == RL_SC_IDLE) kv_null(&w, "target_per_s", &g);
        else kv_d(&w, "target_per_s", rep->target_rate, &g);
        kv_d(&w, "achieved_per_s", rep->tx_per_s, &g);
        kv_s(&w, "unit", o->scenario == RL_SC_CHURN ? "connections" : o->scenario == RL_SC_OT ? "edits" : "messages", &g);
        jw_char(&w, '}');
    }
    kv_u(&w, "sent", st->sent, &f);
    if (rep->has_loss) {
        kv_u(&w, "expected", st->expected, &f);
        kv_u(&w, "received", st->received, &f);
        kv_u(&w, "lost", rep->lost, &f);
        kv_d(&w, "loss_ratio", rep->loss_ratio, &f);
    } else {
        kv_null(&w, "expected", &f);
        kv_u(&w, "received", st->received, &f);
        kv_null(&w, "lost", &f);
        kv_null(&w, "loss_ratio", &f);
    }
    kv_u(&w, "duplicates", st->duplicates, &f);
    kv_u(&w, "reordered", st->reordered, &f);
    kv_u(&w, "untracked", st->untracked, &f);
    kv_u(&w, "other_messages", st->other_msgs, &f);
    if (rep->closed_loop) {
        kv_null(&w, "latency_us", &f);
        hist_obj(&w, "closed_loop_rtt_us", &rep->lat, &f);
    } else {
        hist_obj(&w, "latency_us", &rep->lat, &f);
        kv_null(&w, "closed_loop_rtt_us", &f);
    }
    if (rep->has_ack) hist_obj(&w, "ack_latency_us", &rep->ack, &f);
    else kv_null(&w, "ack_latency_us", &f);
    if (o->ntargets > 1 && !rep->closed_loop && o->scenario != RL_SC_IDLE && o->scenario != RL_SC_ECHO)
        hist_obj(&w, "latency_cross_instance_us", &rep->lat_cross, &f);
    else kv_null(&w, "latency_cross_instance_us", &f);
    hist_obj(&w, "connect_latency_us", &rep->connect, &f);
    kv_d(&w, "rx_per_s", rep->rx_per_s, &f);
    kv_d(&w, "tx_per_s", rep->tx_per_s, &f);
    key(&w, "schedule", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        kv_u(&w, "late_sends", st->late_sends, &g);
        kv_d(&w, "late_threshold_us", (double)o->late_threshold_ns / 1e3, &g);
        key(&w, "slip_us", &g);
        bool h = true;
        jw_char(&w, '{');
        kv_d(&w, "p50", (double)rep->slip.p50_ns / 1e3, &h);
        kv_d(&w, "p99", (double)rep->slip.p99_ns / 1e3, &h);
        kv_d(&w, "max", (double)rep->slip.max_ns / 1e3, &h);
        jw_char(&w, '}');
        jw_char(&w, '}');
    }
    key(&w, "totals", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        kv_u(&w, "sent", st->sent_all, &g);
        kv_u(&w, "received", st->received_all, &g);
        kv_u(&w, "bytes_sent", st->bytes_sent, &g);
        kv_u(&w, "bytes_received", st->bytes_received, &g);
        jw_char(&w, '}');
    }
    key(&w, "connections", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        kv_u(&w, "attempted", st->connects_attempted, &g);
        kv_u(&w, "established", st->connects_ok, &g);
        kv_u(&w, "peak_open", st->conns_peak, &g);
        kv_u(&w, "source_ips", o->source_ips, &g);
        jw_char(&w, '}');
    }
    key(&w, "instances", &f);
    jw_char(&w, '[');
    for (uint32_t t = 0; t < o->ntargets; t++) {
        const struct rl_target_stats *ts = &st->targets[t];
        bool g = true;
        if (t) jw_char(&w, ',');
        jw_char(&w, '{');
        kv_s(&w, "url", o->targets[t].url, &g);
        kv_u(&w, "attempted", ts->attempted, &g);
        kv_u(&w, "established", ts->established, &g);
        kv_u(&w, "lost", ts->lost, &g);
        if (o->scenario == RL_SC_OT) {
            key(&w, "ot", &g);
            bool h = true;
            jw_char(&w, '{');
            kv_u(&w, "documents_converged", ts->ot_docs_ok, &h);
            kv_u(&w, "mismatches", ts->ot_mismatches, &h);
            kv_u(&w, "not_held", ts->ot_not_held, &h);
            jw_char(&w, '}');
        } else {
            kv_null(&w, "ot", &g);
        }
        jw_char(&w, '}');
    }
    jw_char(&w, ']');
    key(&w, "errors", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        for (int i = 0; i < RL_ERR_COUNT; i++) kv_u(&w, rl_err_names[i], st->errors[i], &g);
        key(&w, "server_codes", &g);
        bool h = true;
        jw_char(&w, '{');
        for (int i = 0; i < RL_SERVER_ERR_SLOTS && st->server_errors[i].n; i++)
            kv_u(&w, st->server_errors[i].code, st->server_errors[i].n, &h);
        jw_char(&w, '}');
        kv_u(&w, "total", rl_stats_error_total(st), &g);
        jw_char(&w, '}');
    }
    key(&w, "closes", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        for (int i = 1; i < RL_CLOSE_SLOTS; i++) {
            if (!st->closes[i]) continue;
            char k[8];
            snprintf(k, sizeof k, "%u", (unsigned)rl_close_codes[i]);
            kv_u(&w, k, st->closes[i], &g);
        }
        if (st->closes[0]) kv_u(&w, "other", st->closes[0], &g);
        jw_char(&w, '}');
    }
    const struct rl_server_obs *srv = rep->srv;
    if (srv && srv->pid && srv->ok) {
        key(&w, "server", &f);
        bool g = true;
        jw_char(&w, '{');
        kv_u(&w, "pid", (uint64_t)srv->pid, &g);
        key(&w, "pids", &g);
        jw_char(&w, '[');
        for (uint32_t i = 0; i < srv->npids; i++) {
            if (i) jw_char(&w, ',');
            jw_uint(&w, (uint64_t)srv->pids[i]);
        }
        jw_char(&w, ']');
        key(&w, "cpu_s_by_pid", &g);
        jw_char(&w, '[');
        for (uint32_t i = 0; i < srv->npids; i++) {
            if (i) jw_char(&w, ',');
            num(&w, (double)srv->cpu_ns_by_pid[i] / 1e9);
        }
        jw_char(&w, ']');
        kv_d(&w, "cpu_s", (double)srv->cpu_ns_measured / 1e9, &g);
        kv_d(&w, "cpu_util", rep->server_cpu_util, &g);
        kv_d(&w, "cpu_us_per_sent", rep->server_cpu_us_per_sent, &g);
        kv_d(&w, "cpu_us_per_received", rep->server_cpu_us_per_received, &g);
        kv_u(&w, "rss_kb_before", srv->rss_kb_before, &g);
        kv_u(&w, "rss_kb_ready", srv->rss_kb_ready, &g);
        kv_u(&w, "rss_kb_peak", srv->rss_kb_peak, &g);
        kv_u(&w, "rss_kb_avg", srv->rss_kb_avg, &g);
        kv_u(&w, "rss_kb_end", srv->rss_kb_end, &g);
        kv_d(&w, "rss_bytes_per_conn", rep->server_rss_bytes_per_conn, &g);
        kv_u(&w, "samples", srv->samples, &g);
        jw_char(&w, '}');
    } else {
        kv_null(&w, "server", &f);
    }
    key(&w, "client", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        kv_d(&w, "cpu_s", (double)st->client_cpu_ns / 1e9, &g);
        kv_d(&w, "cpu_util", rep->client_cpu_util, &g);
        kv_d(&w, "cpu_us_per_message", rep->client_cpu_us_per_msg, &g);
        jw_char(&w, '}');
    }
    if (o->scenario == RL_SC_OT) {
        key(&w, "ot", &f);
        bool g = true;
        jw_char(&w, '{');
        kv_u(&w, "documents", st->ot_docs, &g);
        kv_u(&w, "documents_converged", st->ot_docs_ok, &g);
        kv_u(&w, "mismatches", st->ot_mismatches, &g);
        kv_b(&w, "converged", st->ot_docs > 0 && st->ot_docs_ok == st->ot_docs && !st->ot_mismatches, &g);
        kv_u(&w, "edits", st->ot_edits, &g);
        kv_u(&w, "edits_acked", st->ot_edits_acked, &g);
        kv_u(&w, "ops", st->ot_ops, &g);
        kv_u(&w, "acks", st->ot_acks, &g);
        kv_u(&w, "remote_ops", st->ot_remote_ops, &g);
        jw_char(&w, '}');
    } else {
        kv_null(&w, "ot", &f);
    }
    key(&w, "notes", &f);
    jw_char(&w, '[');
    {
        bool g = true;
        const char *notes[4];
        int nn = 0;
        if (o->scenario == RL_SC_CURSOR)
            notes[nn++] = "cursor: the server coalesces cursors (one per participant per interval, never to the sender): latency only, no loss accounting";
        if (o->scenario == RL_SC_IDLE) notes[nn++] = "idle: no messages; connections held and pings answered";
        if (rep->closed_loop) notes[nn++] = "closed loop (--rate max): throughput only; closed_loop_rtt_us is not a latency figure";
        if (o->scenario == RL_SC_CHURN) notes[nn++] = "churn: rate is connections per second; latency_us is each connection's own chat messages; connect_latency_us is the headline";
        for (int i = 0; i < nn; i++) {
            if (!g) jw_char(&w, ',');
            g = false;
            jw_str(&w, notes[i], strlen(notes[i]));
        }
    }
    jw_char(&w, ']');
    key(&w, "slo", &f);
    {
        bool g = true;
        jw_char(&w, '{');
        for (size_t i = 0; i < rep->nslo; i++) kv_s(&w, rep->slo[i].text, rep->slo[i].pass ? "pass" : "fail", &g);
        jw_char(&w, '}');
    }
    if (rep->nslo) kv_b(&w, "slo_pass", rep->slo_pass, &f);
    else kv_null(&w, "slo_pass", &f);
    kv_u(&w, "exit_code", (uint64_t)rep->exit_code, &f);
    jw_lit(&w, "}\n");
    int rc = 0;
    if (w.oom) {
        fprintf(stderr, "ringload: out of memory writing the JSON report\n");
        rc = -ENOMEM;
    } else {
        FILE *out = fopen(path, "w");
        if (!out || fwrite(w.buf, 1, w.len, out) != w.len || fclose(out)) {
            rc = -errno;
            fprintf(stderr, "ringload: writing %s: %s\n", path, strerror(errno));
        }
    }
    jw_free(&w);
    return rc;
}

int rl_report_spectrum(const struct rl_report *rep, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "ringload: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    fprintf(out, "# ringload %s %s: %s latency from the scheduled send time\n", rl_scenario_name(rep->o->scenario),
            rep->o->url, rep->closed_loop ? "closed-loop round trip (not a latency figure)" : "delivery");
    int rc = rl_hist_write_spectrum(&rep->st->lat, out, 5);
    if (fclose(out) || rc) {
        fprintf(stderr, "ringload: writing %s failed\n", path);
        return -EIO;
    }
    return 0;
}

/* ---- human summary ---- */

static void pct_line(FILE *out, const char *label, uint64_t ns)
{
    char b[32];
    rl_report_fmt_ns(b, sizeof b, ns);
    fprintf(out, "    %8s  %10s\n", label, b);
}

static void hist_block(FILE *out, const char *title, const rl_hist_summary *h)
{
    fprintf(out, "  %s (%" PRIu64 " samples)\n", title, h->count);
    if (!h->count) return;
    pct_line(out, "50.000%", h->p50_ns);
    pct_line(out, "90.000%", h->p90_ns);
    pct_line(out, "95.000%", h->p95_ns);
    pct_line(out, "99.000%", h->p99_ns);
    pct_line(out, "99.900%", h->p999_ns);
    pct_line(out, "100.000%", h->max_ns);
}

void rl_report_human(const struct rl_report *rep, FILE *out)
{
    const struct rl_opts *o = rep->o;
    const struct rl_stats *st = rep->st;
    char a[32], b[32];
    fprintf(out, "ringload %s%s%s against %s (%s, %u worker%s)\n", rl_scenario_name(o->scenario),
            o->preset[0] ? ", preset " : "", o->preset, o->url, rl_engine_name(o->engine), o->workers,
            o->workers == 1 ? "" : "s");
    if (o->rooms && o->scenario != RL_SC_CHURN)
        fprintf(out, "  %u connections in %u rooms of %u (%u sending per room)\n", o->conns, o->rooms, o->room_size,
                o->senders && o->senders < o->room_size ? o->senders : o->room_size);
    else if (o->scenario == RL_SC_CHURN)
        fprintf(out, "  up to %u connections at once, %u rooms\n", o->conns, o->rooms);
    else
        fprintf(out, "  %u connections\n", o->conns);
    if (rep->closed_loop)
        fprintf(out, "  %.1fs measured after %.1fs warm-up; CLOSED LOOP (%u in flight per connection): throughput only\n",
                rep->measured_s, o->warmup_ms / 1e3, o->pipeline);
    else if (o->scenario != RL_SC_IDLE)
        fprintf(out, "  %.1fs measured after %.1fs warm-up; open loop, target %.1f %s/s\n", rep->measured_s,
                o->warmup_ms / 1e3, rep->target_rate, o->scenario == RL_SC_CHURN ? "connections" : o->scenario == RL_SC_OT ? "edits" : "msgs");
    else
        fprintf(out, "  held for %.1fs\n", rep->measured_s);
    fputc('\n', out);
    if (o->scenario != RL_SC_IDLE) {
        const char *title = rep->closed_loop ? "Round trip, closed loop (NOT a latency figure)"
                            : o->scenario == RL_SC_OT ? "Remote apply latency (edit scheduled -> applied by another editor)"
                            : o->scenario == RL_SC_CHURN ? "Own-message latency (from scheduled send)"
                            : "Latency (delivery, from the scheduled send time)";
        hist_block(out, title, &rep->lat);
        if (rep->has_ack) hist_block(out, "Ack latency (edit scheduled -> acknowledged)", &rep->ack);
        if (o->ntargets > 1 && !rep->closed_loop && o->scenario != RL_SC_ECHO)
            hist_block(out, "Cross-instance latency (the deliveries above whose sender used another instance)",
                       &rep->lat_cross);
    }
    hist_block(out, "Connect latency (scheduled connect -> WebSocket open)", &rep->connect);
    if (o->spectrum_path[0]) fprintf(out, "  Detailed percentile spectrum: %s\n", o->spectrum_path);
    fputc('\n', out);
    if (o->scenario != RL_SC_IDLE) {
        rl_report_fmt_ns(a, sizeof a, rep->slip.p99_ns);
        rl_report_fmt_ns(b, sizeof b, rep->slip.max_ns);
        fprintf(out, "  Sent %" PRIu64 " (%.1f/s); %" PRIu64 " late (> %.0fus), slip p99 %s, max %s\n", st->sent,
                rep->tx_per_s, st->late_sends, (double)o->late_threshold_ns / 1e3, a, b);
        fprintf(out, "  Received %" PRIu64 " (%.1f/s)\n", st->received, rep->rx_per_s);
        if (rep->has_loss)
            fprintf(out, "  Loss: %" PRIu64 " of %" PRIu64 " expected (%.4f%%); duplicates %" PRIu64 ", reordered %" PRIu64 "\n",
                    rep->lost, st->expected, rep->loss_ratio * 100, st->duplicates, st->reordered);
        else
            fprintf(out, "  Loss: not measured for %s (server coalesces or nothing is expected)\n", rl_scenario_name(o->scenario));
    }
    fprintf(out, "  Connections: %" PRIu64 " established of %" PRIu64 " attempted, peak %" PRIu64 " open\n",
            st->connects_ok, st->connects_attempted, st->conns_peak);
    if (o->ntargets > 1) {
        fprintf(out, "  Instances (%u):\n", o->ntargets);
        for (uint32_t t = 0; t < o->ntargets; t++) {
            const struct rl_target_stats *ts = &st->targets[t];
            fprintf(out, "    [%u] %s: %" PRIu64 " established of %" PRIu64 ", %" PRIu64 " lost", t, o->targets[t].url,
                    ts->established, ts->attempted, ts->lost);
            if (o->scenario == RL_SC_OT)
                fprintf(out, "; OT: %" PRIu64 " documents as every editor has them, %" PRIu64 " mismatched%s, %" PRIu64
                        " not held", ts->ot_docs_ok, ts->ot_mismatches, ts->ot_mismatches ? " -- MISMATCH" : "",
                        ts->ot_not_held);
            fputc('\n', out);
        }
    }
    uint64_t errs = rl_stats_error_total(st);
    fprintf(out, "  Errors: %" PRIu64, errs);
    for (int i = 0; i < RL_ERR_COUNT; i++)
        if (st->errors[i]) fprintf(out, "%s %s %" PRIu64, i ? "," : "", rl_err_names[i], st->errors[i]);
    for (int i = 0; i < RL_SERVER_ERR_SLOTS && st->server_errors[i].n; i++)
        fprintf(out, " [%s %" PRIu64 "]", st->server_errors[i].code, st->server_errors[i].n);
    fputc('\n', out);
    fprintf(out, "  Closes (not ours):");
    bool any = false;
    for (int i = 0; i < RL_CLOSE_SLOTS; i++)
        if (st->closes[i]) {
            fprintf(out, " %s%u x%" PRIu64, i ? "" : "other:", (unsigned)rl_close_codes[i], st->closes[i]);
            any = true;
        }
    fprintf(out, "%s\n", any ? "" : " none");
    if (o->scenario == RL_SC_OT)
        fprintf(out, "  OT: %" PRIu64 " edits in %" PRIu64 " ops, %" PRIu64 " edits acked, %" PRIu64 "/%" PRIu64
                " documents converged%s\n", st->ot_edits, st->ot_ops, st->ot_edits_acked, st->ot_docs_ok, st->ot_docs,
                st->ot_mismatches ? " -- MISMATCH" : "");
    const struct rl_server_obs *srv = rep->srv;
    if (srv && srv->pid) {
        char more[64] = "";
        if (srv->npids > 1) snprintf(more, sizeof more, " and %u more (summed)", srv->npids - 1);
        if (!srv->ok)
            fprintf(out, "  Server pid %d%s: could not be sampled\n", srv->pid, more);
        else
            fprintf(out, "  Server pid %d%s: CPU %.1f%% of a core, %.2fus per sent / %.2fus per received message; "
                    "RSS %.1f MiB before, %.1f MiB ready (%.0f B/conn), peak %.1f MiB, avg %.1f MiB\n",
                    srv->pid, more, rep->server_cpu_util * 100, rep->server_cpu_us_per_sent, rep->server_cpu_us_per_received,
                    srv->rss_kb_before / 1024.0, srv->rss_kb_ready / 1024.0, rep->server_rss_bytes_per_conn,
                    srv->rss_kb_peak / 1024.0, srv->rss_kb_avg / 1024.0);
        if (srv->ok && srv->npids > 1) {
            fprintf(out, "    CPU by process:");
            for (uint32_t i = 0; i < srv->npids; i++)
                fprintf(out, " %d %.1f%%", srv->pids[i],
                        rep->measured_s > 0 ? (double)srv->cpu_ns_by_pid[i] / (rep->measured_s * 1e9) * 100 : 0.0);
            fputc('\n', out);
        }
    }
    fprintf(out, "  ringload: CPU %.1f%% of a core, %.2fus per message sent or received\n", rep->client_cpu_util * 100,
            rep->client_cpu_us_per_msg);
    if (rep->nslo) {
        fprintf(out, "  SLO:");
        for (size_t i = 0; i < rep->nslo; i++)
            fprintf(out, " %s %s (%.6g)", rep->slo[i].text, rep->slo[i].pass ? "pass" : "FAIL", rep->slo[i].actual);
        fputc('\n', out);
    }
    fflush(out);
}
