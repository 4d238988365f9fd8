/* rl_slo.c: see rl_slo.h. */
#include "rl_slo.h"

#include "rl_report.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_latency(const char *m)
{
    if (!strncmp(m, "ack_", 4)) m += 4;
    else if (!strncmp(m, "connect_", 8)) m += 8;
    return !strcmp(m, "p50") || !strcmp(m, "p90") || !strcmp(m, "p95") || !strcmp(m, "p99") ||
           !strcmp(m, "p99.9") || !strcmp(m, "p999") || !strcmp(m, "max") || !strcmp(m, "mean");
}

static bool known(const char *m)
{
    return is_latency(m) || !strcmp(m, "loss") || !strcmp(m, "errors") || !strcmp(m, "duplicates") ||
           !strcmp(m, "reordered") || !strcmp(m, "rx_rate") || !strcmp(m, "tx_rate");
}

static bool parse_one(const char *s, size_t n, struct rl_slo *e, char *err, size_t errlen)
{
    while (n && isspace((unsigned char)*s)) { s++; n--; }
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0 || n >= sizeof e->text) {
        snprintf(err, errlen, "--slo: empty or too long expression");
        return false;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->text, s, n);
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')) i++;
    if (i == 0 || i >= sizeof e->metric) {
        snprintf(err, errlen, "--slo: '%s': expected METRIC<VALUE", e->text);
        return false;
    }
    memcpy(e->metric, s, i);
    if (!known(e->metric)) {
        snprintf(err, errlen, "--slo: unknown metric '%s' (p50 p90 p95 p99 p99.9 max mean, ack_*, connect_*, "
                 "loss, errors, duplicates, reordered, rx_rate, tx_rate)", e->metric);
        return false;
    }
    while (i < n && isspace((unsigned char)s[i])) i++;
    if (i + 1 < n && s[i] == '<' && s[i + 1] == '=') { e->op = RL_SLO_LE; i += 2; }
    else if (i + 1 < n && s[i] == '>' && s[i + 1] == '=') { e->op = RL_SLO_GE; i += 2; }
    else if (i < n && s[i] == '<') { e->op = RL_SLO_LT; i++; }
    else if (i < n && s[i] == '>') { e->op = RL_SLO_GT; i++; }
    else if (i < n && s[i] == '=') { e->op = RL_SLO_EQ; i++; if (i < n && s[i] == '=') i++; }
    else {
        snprintf(err, errlen, "--slo: '%s': expected <, <=, >, >= or = after %s", e->text, e->metric);
        return false;
    }
    while (i < n && isspace((unsigned char)s[i])) i++;
    char num[48];
    if (n - i == 0 || n - i >= sizeof num) {
        snprintf(err, errlen, "--slo: '%s': missing value", e->text);
        return false;
    }
    memcpy(num, s + i, n - i);
    num[n - i] = '\0';
    errno = 0;
    char *end;
    double v = strtod(num, &end);
    if (errno || end == num || v < 0) {
        snprintf(err, errlen, "--slo: '%s': bad number", e->text);
        return false;
    }
    if (is_latency(e->metric)) {
        if (!strcmp(end, "us")) e->value = v;
        else if (!strcmp(end, "ms")) e->value = v * 1e3;
        else if (!strcmp(end, "s")) e->value = v * 1e6;
        else {
            snprintf(err, errlen, "--slo: '%s': a latency needs a unit (us, ms, s)", e->text);
            return false;
        }
    } else if (!strcmp(e->metric, "loss")) {
        if (!strcmp(end, "%")) e->value = v / 100.0;
        else if (!*end) e->value = v;
        else {
            snprintf(err, errlen, "--slo: '%s': loss is a ratio (0.0001) or a percentage (0.01%%)", e->text);
            return false;
        }
    } else {
        if (*end && strcmp(end, "/s")) {
            snprintf(err, errlen, "--slo: '%s': unexpected unit '%s'", e->text, end);
            return false;
        }
        e->value = v;
    }
    return true;
}

bool rl_slo_parse(const char *spec, struct rl_slo *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n == RL_SLO_MAX) {
            snprintf(err, errlen, "--slo: at most %d expressions", RL_SLO_MAX);
            return false;
        }
        if (!parse_one(p, len, &out[*n], err, errlen)) return false;
        (*n)++;
        p += len;
        if (*p == ',') p++;
    }
    return true;
}

bool rl_slo_check(struct rl_slo *slo, size_t n, const struct rl_report *rep)
{
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        struct rl_slo *e = &slo[i];
        double a = 0;
        bool have = rl_slo_metric(rep, e->metric, &a);
        e->actual = a;
        switch (e->op) {
        case RL_SLO_LT: e->pass = have && a < e->value; break;
        case RL_SLO_LE: e->pass = have && a <= e->value; break;
        case RL_SLO_GT: e->pass = have && a > e->value; break;
        case RL_SLO_GE: e->pass = have && a >= e->value; break;
        case RL_SLO_EQ: e->pass = have && a == e->value; break;
        }
        all = all && e->pass;
    }
    return all;
}
