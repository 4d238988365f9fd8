/* rl_opts.c: the flag table and its parser (see rl_opts.h). getopt_long is not used so the
 * table can also print --help with defaults, and so `--flag value` and `--flag=value` parse
 * the same way as ringroom's own config module does. Size and duration values reuse
 * ringroom's parsers (config.h). */
#include "rl_opts.h"

#include "config.h"
#include "rl_stats.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(RL_MAX_TARGETS <= RL_STATS_TARGETS, "rl_stats counts per target");

#ifndef RINGLOAD_VERSION
#define RINGLOAD_VERSION "1"
#endif

enum opt_type { T_U32, T_U64, T_DURATION, T_SIZE, T_STRING, T_RATE, T_DOUBLE, T_SCENARIO, T_ENGINE,
                T_FLAG, T_PRESET, T_PAYLOAD, T_PIDS };

struct opt {
    const char *flag;
    enum opt_type type;
    size_t offset, size;
    uint64_t min, max;
    const char *def;          /* shown in --help */
    const char *help;
};

#define F(field) offsetof(struct rl_opts, field), sizeof(((struct rl_opts *)0)->field)
static const struct opt options[] = {
    { "url", T_STRING, F(url), 0, 0, "ws://127.0.0.1:8080/echo (echo) or /ws", "WebSocket URL to load (loopback only: 127.x.x.x or localhost), or a comma-separated list of up to 16 (server instances sharing rooms): connections are spread over them, each room's members over every instance" },
    { "scenario", T_SCENARIO, F(scenario), 0, 0, "echo", "idle | echo | chat | cursor | ot | churn" },
    { "preset", T_PRESET, F(preset), 0, 0, "", "campaign-1m: chat, 10,000 connections in rooms of 100, 1,000,000 messages/hour, 120s" },
    { "conns", T_U32, F(conns), 1, 10000000, "per scenario", "connections (churn: connections open at once)" },
    { "rooms", T_U32, F(rooms), 1, 10000000, "from --room-size", "rooms (ot: documents); connections are spread over them, whole rooms per worker" },
    { "room-size", T_U32, F(room_size), 1, 65535, "10", "members per room" },
    { "senders", T_U32, F(senders), 0, 1000000, "0", "members per room that send (0 = all)" },
    { "room-prefix", T_STRING, F(room_prefix), 0, 0, "r", "room names are PREFIX<k>" },
    { "rate", T_RATE, F(rate), 0, 0, "per scenario", "messages/s in total, N/conn per sending connection, or max (closed loop: throughput only, never latency); churn: connections/s" },
    { "pipeline", T_U32, F(pipeline), 1, 100000, "1", "closed loop (--rate max): messages in flight per connection" },
    { "duration", T_DURATION, F(duration_ms), 100, 86400000, "10s", "measured time (after warm-up)" },
    { "warmup", T_DURATION, F(warmup_ms), 0, 3600000, "1s", "time the schedule runs before measuring (excluded from every figure)" },
    { "drain", T_DURATION, F(drain_ms), 0, 600000, "2s", "after the last send: time allowed for outstanding messages (then they count as lost)" },
    { "connect-timeout", T_DURATION, F(connect_timeout_ms), 100, 3600000, "30s", "time allowed to open (and join) every connection" },
    { "connect-rate", T_DOUBLE, F(connect_rate), 0, 0, "0", "connections opened per second during setup (0 = as fast as --max-connecting allows)" },
    { "max-connecting", T_U32, F(max_connecting), 1, 100000, "256", "connection attempts in flight at once" },
    { "late-threshold", T_DURATION, F(late_threshold_ns), 0, 60000, "1ms", "a send this much after its scheduled time counts as late (schedule slip)" },
    { "size", T_SIZE, F(size), 0, 16u << 20, "64 (echo), 32 (chat)", "payload bytes (echo) or chat text bytes" },
    { "payload", T_PAYLOAD, F(text_payload), 0, 0, "binary", "echo frames: binary or text" },
    { "churn-msgs", T_U32, F(churn_msgs), 0, 1000000, "3", "churn: chat messages per connection before it leaves" },
    { "doc-max", T_U32, F(doc_max), 16, 1u << 24, "2000", "ot: document length (UTF-16 units) above which editors delete more than they insert" },
    { "workers", T_U32, F(workers), 0, 64, "0", "processes (0 = one per 19,000 connections); each takes whole rooms" },
    { "source-ips", T_U32, F(source_ips), 0, 250, "0", "source addresses 127.0.0.1..N, round robin (0 = one per 2,000 connections: the kernel finds free ports faster)" },
    { "engine", T_ENGINE, F(engine), 0, 0, "io_uring", "io_uring or epoll (epoll: for comparison; fd-limited to ~19,000 connections)" },
    { "seed", T_U64, F(seed), 0, UINT64_MAX, "1", "random seed (rooms, edits, masks)" },
    { "json", T_STRING, F(json_path), 0, 0, "", "write the JSON report (schema: docs/ringload.md) to FILE" },
    { "spectrum", T_STRING, F(spectrum_path), 0, 0, "", "write the latency percentile spectrum (gnuplot-ready) to FILE" },
    { "acked-log", T_STRING, F(acked_log), 0, 0, "", "ot: append one JSON line per ack and per op received, as it is read (room, rev, author, op; acks also the base and the op as sent) to FILE (truncated at start); see docs/ringload.md" },
    { "slo", T_STRING, F(slo), 0, 0, "", "thresholds, e.g. 'p95<50ms,p99.9<200ms,loss<0.01%,errors=0'; exit 1 if one fails" },
    { "server-pid", T_PIDS, F(server_pids), 1, 4194304, "", "sample this process's CPU and RSS during the run; a comma-separated list (up to 32: several instances, a Redis) is sampled as one, CPU and RSS summed, CPU also per process" },
    { "quiet", T_FLAG, F(quiet), 0, 0, "", "no per-second progress line" },
};
#undef F
#define NOPTS (sizeof options / sizeof options[0])

static const char *const scenario_names[RL_SC_COUNT] = { "echo", "idle", "chat", "cursor", "ot", "churn" };

const char *rl_scenario_name(enum rl_scenario_kind k)
{
    return (unsigned)k < RL_SC_COUNT ? scenario_names[k] : "?";
}

const char *rl_engine_name(enum rl_engine_kind k)
{
    return k == RL_ENGINE_EPOLL ? "epoll" : "io_uring";
}

void rl_opts_usage(FILE *out)
{
    fprintf(out,
            "ringload: open-loop WebSocket load generator for ringroom (loopback only)\n\n"
            "usage: ringload [--scenario S] [--url ws://127.0.0.1:PORT/PATH[,ws://...]] [flags]\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &options[i];
        char left[64];
        const char *hint = "";
        switch (o->type) {
        case T_U32: case T_U64: hint = " N"; break;
        case T_DURATION: hint = " DURATION"; break;
        case T_SIZE: hint = " BYTES"; break;
        case T_STRING: hint = " VALUE"; break;
        case T_RATE: hint = " RATE"; break;
        case T_DOUBLE: hint = " N"; break;
        case T_SCENARIO: hint = " NAME"; break;
        case T_ENGINE: hint = " NAME"; break;
        case T_PRESET: hint = " NAME"; break;
        case T_PAYLOAD: hint = " KIND"; break;
        case T_PIDS: hint = " PID[,PID...]"; break;
        case T_FLAG: break;
        }
        snprintf(left, sizeof left, "--%s%s", o->flag, hint);
        fprintf(out, "  %-26s %s", left, o->help);
        if (o->def && *o->def) fprintf(out, " [%s]", o->def);
        fputc('\n', out);
    }
    fprintf(out, "  %-26s %s\n  %-26s %s\n", "--help", "this text", "--version", "print the version");
    fprintf(out,
            "\nDurations take a unit (500ms, 10s, 2m); sizes may end in K, M, G.\n"
            "Exit status: 0 run complete and every --slo held; 1 an --slo failed, an ot document\n"
            "diverged or could not be fetched (the server is gone), the --acked-log could not be\n"
            "written, or nothing could connect; 2 bad usage or a setup failure.\n");
}

static bool parse_double(const char *s, double *out)
{
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool set_value(struct rl_opts *o, const struct opt *op, const char *val, char *err, size_t errlen)
{
    char *base = (char *)o + op->offset;
    switch (op->type) {
    case T_U32:
    case T_U64: {
        uint64_t v;
        if (!parse_u64(val, &v) || v < op->min || v > op->max) {
            snprintf(err, errlen, "--%s: expected an integer from %llu to %llu, got '%s'", op->flag,
                     (unsigned long long)op->min, (unsigned long long)op->max, val);
            return false;
        }
        if (op->size == 8) *(uint64_t *)base = v;
        else if (op->size == 4) *(uint32_t *)base = (uint32_t)v;
        else *(int *)base = (int)v;
        return true;
    }
    case T_DURATION: {
        uint32_t ms;
        if (!config_parse_duration_ms(val, &ms) || ms < op->min || ms > op->max) {
            snprintf(err, errlen, "--%s: expected a duration from %llums to %llums with a unit (ms, s, m, h), got '%s'",
                     op->flag, (unsigned long long)op->min, (unsigned long long)op->max, val);
            return false;
        }
        if (op->size == 8) *(uint64_t *)base = (uint64_t)ms * 1000000ull;   /* stored in ns */
        else *(uint32_t *)base = ms;
        return true;
    }
    case T_SIZE: {
        uint64_t v;
        if (!config_parse_size(val, &v) || v > op->max) {
            snprintf(err, errlen, "--%s: expected a size up to %llu bytes (suffixes K, M, G), got '%s'", op->flag,
                     (unsigned long long)op->max, val);
            return false;
        }
        *(uint32_t *)base = (uint32_t)v;
        return true;
    }
    case T_STRING:
        if (strlen(val) >= op->size) {
            snprintf(err, errlen, "--%s: longer than %zu bytes", op->flag, op->size - 1);
            return false;
        }
        strcpy(base, val);
        return true;
    case T_RATE: {
        if (!strcmp(val, "max")) {
            o->closed_loop = true;
            o->rate = 0;
            o->rate_set = true;
            return true;
        }
        char num[64];
        const char *slash = strchr(val, '/');
        size_t n = slash ? (size_t)(slash - val) : strlen(val);
        if (n == 0 || n >= sizeof num || (slash && strcmp(slash, "/conn") && strcmp(slash, "/s"))) {
            snprintf(err, errlen, "--rate: expected N (per second in total), N/conn or max, got '%s'", val);
            return false;
        }
        memcpy(num, val, n);
        num[n] = '\0';
        double v;
        if (!parse_double(num, &v) || v <= 0 || v > 1e9) {
            snprintf(err, errlen, "--rate: expected a positive number up to 1e9, got '%s'", val);
            return false;
        }
        o->rate = v;
        o->rate_per_conn = slash && !strcmp(slash, "/conn");
        o->closed_loop = false;
        o->rate_set = true;
        return true;
    }
    case T_DOUBLE: {
        double v;
        if (!parse_double(val, &v) || v > 1e9) {
            snprintf(err, errlen, "--%s: expected a number from 0 to 1e9, got '%s'", op->flag, val);
            return false;
        }
        *(double *)base = v;
        return true;
    }
    case T_SCENARIO:
        for (int k = 0; k < RL_SC_COUNT; k++)
            if (!strcmp(val, scenario_names[k])) { o->scenario = (enum rl_scenario_kind)k; return true; }
        snprintf(err, errlen, "--scenario: expected idle, echo, chat, cursor, ot or churn, got '%s'", val);
        return false;
    case T_ENGINE:
        if (!strcmp(val, "io_uring") || !strcmp(val, "uring")) o->engine = RL_ENGINE_URING;
        else if (!strcmp(val, "epoll")) o->engine = RL_ENGINE_EPOLL;
        else {
            snprintf(err, errlen, "--engine: expected io_uring or epoll, got '%s'", val);
            return false;
        }
        return true;
    case T_PAYLOAD:
        if (!strcmp(val, "binary")) o->text_payload = false;
        else if (!strcmp(val, "text")) o->text_payload = true;
        else {
            snprintf(err, errlen, "--payload: expected binary or text, got '%s'", val);
            return false;
        }
        return true;
    case T_FLAG:
        *(bool *)base = true;
        return true;
    case T_PIDS: {
        uint32_t n = 0;
        for (const char *p = val;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char num[24];
            uint64_t v = 0;
            bool good = len > 0 && len < sizeof num;
            if (good) {
                memcpy(num, p, len);
                num[len] = '\0';
                good = parse_u64(num, &v) && v >= op->min && v <= op->max;
            }
            if (!good || n >= RL_MAX_SERVER_PIDS) {
                snprintf(err, errlen, "--%s: expected up to %u comma-separated process ids from %llu to %llu, got '%s'",
                         op->flag, RL_MAX_SERVER_PIDS, (unsigned long long)op->min, (unsigned long long)op->max, val);
                return false;
            }
            o->server_pids[n++] = (int)v;
            if (!comma) break;
            p = comma + 1;
        }
        o->nserver_pids = n;
        return true;
    }
    case T_PRESET:
        return true;              /* applied in the first pass */
    }
    return false;
}

static int apply_preset(struct rl_opts *o, const char *name, char *err, size_t errlen)
{
    if (!strcmp(name, "campaign-1m")) {
        o->scenario = RL_SC_CHAT;
        o->conns = 10000;
        o->room_size = 100;
        o->rate = 1000000.0 / 3600.0;
        o->rate_set = true;
        o->duration_ms = 120000;
        o->duration_set = true;
    } else if (!strcmp(name, "idle") || !strcmp(name, "echo") || !strcmp(name, "chat") ||
               !strcmp(name, "cursor") || !strcmp(name, "ot") || !strcmp(name, "churn")) {
        for (int k = 0; k < RL_SC_COUNT; k++)
            if (!strcmp(name, scenario_names[k])) o->scenario = (enum rl_scenario_kind)k;
    } else {
        snprintf(err, errlen, "--preset: expected campaign-1m (or a scenario name), got '%s'", name);
        return RL_OPTS_ERROR;
    }
    snprintf(o->preset, sizeof o->preset, "%s", name);
    return RL_OPTS_OK;
}

static void defaults(struct rl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->scenario = RL_SC_ECHO;
    strcpy(o->room_prefix, "r");
    o->pipeline = 1;
    o->duration_ms = 10000;
    o->warmup_ms = 1000;
    o->drain_ms = 2000;
    o->connect_timeout_ms = 30000;
    o->max_connecting = 256;
    o->late_threshold_ns = 1000000;
    o->churn_msgs = 3;
    o->doc_max = 2000;
    o->engine = RL_ENGINE_URING;
    o->seed = 1;
}

/* ws://HOST:PORT/PATH with HOST a loopback IPv4 address or localhost: one entry of --url. */
static bool parse_url(const char *u0, size_t ulen, struct rl_target *t, char *err, size_t errlen)
{
    if (ulen >= sizeof t->url) {
        snprintf(err, errlen, "--url: an entry is longer than %zu bytes", sizeof t->url - 1);
        return false;
    }
    memcpy(t->url, u0, ulen);
    t->url[ulen] = '\0';
    const char *u = t->url;
    if (strncmp(u, "ws://", 5)) {
        snprintf(err, errlen, "--url: expected ws://HOST:PORT/PATH (wss is not supported), got '%s'", t->url);
        return false;
    }
    u += 5;
    const char *slash = strchr(u, '/');
    size_t hp_len = slash ? (size_t)(slash - u) : strlen(u);
    char hp[128];
    if (hp_len == 0 || hp_len >= sizeof hp) {
        snprintf(err, errlen, "--url: missing or too long host in '%s'", t->url);
        return false;
    }
    memcpy(hp, u, hp_len);
    hp[hp_len] = '\0';
    char host[128];
    uint16_t port = 80;
    if (strchr(hp, ':')) {
        if (!config_parse_hostport(hp, host, sizeof host, &port) || port == 0) {
            snprintf(err, errlen, "--url: bad HOST:PORT '%s' in '%s'", hp, t->url);
            return false;
        }
    } else {
        snprintf(host, sizeof host, "%s", hp);
    }
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
        snprintf(err, errlen, "--url: ringload loads loopback servers only (127.x.x.x or localhost), got '%s'", host);
        return false;
    }
    if (slash && strlen(slash) >= sizeof t->path) {
        snprintf(err, errlen, "--url: path longer than %zu bytes in '%s'", sizeof t->path - 1, t->url);
        return false;
    }
    for (const char *q = slash; q && *q; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            snprintf(err, errlen, "--url: a blank or control character in the path of '%s' (separate URLs with commas)", t->url);
            return false;
        }
    snprintf(t->host, sizeof t->host, "%.*s", (int)sizeof t->host - 1, host);
    t->port = port;
    snprintf(t->path, sizeof t->path, "%s", slash ? slash : "/");
    return true;
}

bool rl_opts_parse_urls(const char *list, struct rl_target *out, uint32_t max, uint32_t *n, char *err, size_t errlen)
{
    *n = 0;
    const char *p = list;
    for (uint32_t k = 1;; k++) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (a == b) {
            if (!comma && k == 1) snprintf(err, errlen, "--url: empty");
            else snprintf(err, errlen, "--url: entry %u of the list is empty", k);
            return false;
        }
        if (*n >= max) {
            snprintf(err, errlen, "--url: more than %u URLs", max);
            return false;
        }
        if (!parse_url(a, (size_t)(b - a), &out[*n], err, errlen)) return false;
        (*n)++;
        if (!comma) return true;
        p = comma + 1;
    }
}

uint32_t rl_opts_target_of(const struct rl_opts *o, uint64_t gid)
{
    if (o->ntargets <= 1) return 0;
    bool rooms = o->scenario == RL_SC_CHAT || o->scenario == RL_SC_CURSOR || o->scenario == RL_SC_OT;
    if (rooms && o->room_size) {
        uint64_t room = gid / o->room_size, member = gid % o->room_size;
        return (uint32_t)((room + member) % o->ntargets);
    }
    return (uint32_t)(gid % o->ntargets);
}

uint64_t rl_opts_senders(const struct rl_opts *o)
{
    switch (o->scenario) {
    case RL_SC_IDLE: case RL_SC_CHURN: case RL_SC_COUNT: return 0;
    case RL_SC_ECHO: return o->conns;
    case RL_SC_CHAT: case RL_SC_CURSOR: case RL_SC_OT: break;
    }
    uint64_t total = 0;
    for (uint64_t gfirst = 0; gfirst < o->conns; gfirst += o->room_size) {
        uint64_t size = o->conns - gfirst < o->room_size ? o->conns - gfirst : o->room_size;
        total += o->senders && o->senders < size ? o->senders : size;
    }
    return total;
}

double rl_opts_total_rate(const struct rl_opts *o, uint32_t nsenders)
{
    if (o->closed_loop || o->scenario == RL_SC_IDLE) return 0;
    if (o->scenario == RL_SC_CHURN) return o->rate;
    return o->rate_per_conn ? o->rate * nsenders : o->rate;
}

static int finish(struct rl_opts *o, char *err, size_t errlen)
{
    enum rl_scenario_kind sc = o->scenario;
    if (!o->url[0]) {
        snprintf(o->url, sizeof o->url, "ws://127.0.0.1:8080%s", sc == RL_SC_ECHO ? "/echo" : "/ws");
    }
    if (!rl_opts_parse_urls(o->url, o->targets, RL_MAX_TARGETS, &o->ntargets, err, errlen)) return RL_OPTS_ERROR;
    bool rooms_scn = sc == RL_SC_CHAT || sc == RL_SC_CURSOR || sc == RL_SC_OT || sc == RL_SC_CHURN;
    if (!o->conns) {
        static const uint32_t def_conns[RL_SC_COUNT] = { 10, 1000, 100, 100, 20, 10 };
        if (rooms_scn && o->rooms && o->room_size) o->conns = o->rooms * o->room_size;
        else o->conns = def_conns[sc];
    }
    if (rooms_scn) {
        if (o->room_size && !o->rooms) o->rooms = (o->conns + o->room_size - 1) / o->room_size;
        else if (o->rooms && !o->room_size) o->room_size = (o->conns + o->rooms - 1) / o->rooms;
        else if (!o->rooms && !o->room_size) {
            o->room_size = sc == RL_SC_CHURN ? 1 : 10;
            if (o->room_size > o->conns) o->room_size = o->conns;
            o->rooms = (o->conns + o->room_size - 1) / o->room_size;
        }
        if ((uint64_t)o->rooms * o->room_size < o->conns) {
            snprintf(err, errlen, "--rooms %u x --room-size %u holds fewer than --conns %u", o->rooms, o->room_size, o->conns);
            return RL_OPTS_ERROR;
        }
        /* rooms beyond what the connections fill would stay empty */
        o->rooms = (o->conns + o->room_size - 1) / o->room_size;
    } else {
        o->rooms = 0;
        o->room_size = 1;
    }
    if (!o->rate_set) {
        switch (sc) {
        case RL_SC_ECHO: o->rate = 1000; break;
        case RL_SC_CHAT: case RL_SC_CURSOR: o->rate = 100; break;
        case RL_SC_OT: o->rate = 2; o->rate_per_conn = true; break;
        case RL_SC_CHURN: o->rate = 50; break;
        case RL_SC_IDLE: case RL_SC_COUNT: o->rate = 0; break;
        }
    }
    if (o->closed_loop && sc != RL_SC_ECHO && sc != RL_SC_CHAT) {
        snprintf(err, errlen, "--rate max (closed loop) is available for echo and chat only");
        return RL_OPTS_ERROR;
    }
    if (o->acked_log[0] && sc != RL_SC_OT) {
        snprintf(err, errlen, "--acked-log is for the ot scenario only");
        return RL_OPTS_ERROR;
    }
    if (!o->size_set) o->size = sc == RL_SC_ECHO ? 64 : 32;
    if (sc == RL_SC_ECHO && o->size < 24) o->size = 24;       /* room for the stamp */
    if (sc == RL_SC_CHURN && o->closed_loop) {
        snprintf(err, errlen, "--rate max is not available for churn");
        return RL_OPTS_ERROR;
    }
    if (!o->workers) {
        uint32_t per = 19000;
        o->workers = sc == RL_SC_CHURN ? 1 : (o->conns + per - 1) / per;
        if (o->workers == 0) o->workers = 1;
    }
    if (o->engine == RL_ENGINE_EPOLL && o->conns / o->workers > 19000) {
        snprintf(err, errlen, "--engine epoll holds at most 19,000 connections per worker (RLIMIT_NOFILE); use --workers");
        return RL_OPTS_ERROR;
    }
    if (!o->source_ips) o->source_ips = (o->conns + 1999) / 2000;
    if (o->source_ips > 250) o->source_ips = 250;
    if (rooms_scn && o->workers > 1 && o->workers > o->rooms) o->workers = o->rooms;
    if (o->workers > o->conns) o->workers = o->conns;
    return RL_OPTS_OK;
}

static const struct opt *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(options[i].flag) == n && !strncmp(options[i].flag, name, n)) return &options[i];
    return NULL;
}

int rl_opts_parse(struct rl_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    defaults(o);
    /* pass 1: --help, --version, --preset */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { rl_opts_usage(stdout); return RL_OPTS_EXIT; }
        if (!strcmp(a, "--version")) { printf("ringload %s\n", RINGLOAD_VERSION); return RL_OPTS_EXIT; }
        const char *val = NULL;
        if (!strcmp(a, "--preset")) val = i + 1 < argc ? argv[i + 1] : NULL;
        else if (!strncmp(a, "--preset=", 9)) val = a + 9;
        else continue;
        if (!val) { snprintf(err, errlen, "--preset needs a value"); return RL_OPTS_ERROR; }
        int r = apply_preset(o, val, err, errlen);
        if (r) return r;
    }
    /* pass 2: everything else, in order */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2)) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return RL_OPTS_ERROR;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *op = find_opt(name, nlen);
        if (!op) {
            snprintf(err, errlen, "unknown flag '%.*s' (see --help)", (int)(nlen + 2), a);
            return RL_OPTS_ERROR;
        }
        const char *val;
        if (op->type == T_FLAG) {
            if (eq) { snprintf(err, errlen, "--%s takes no value", op->flag); return RL_OPTS_ERROR; }
            val = "1";
        } else if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) { snprintf(err, errlen, "--%s needs a value", op->flag); return RL_OPTS_ERROR; }
            val = argv[++i];
        }
        if (!set_value(o, op, val, err, errlen)) return RL_OPTS_ERROR;
        if (!strcmp(op->flag, "url")) o->url_set = true;
        if (!strcmp(op->flag, "size")) o->size_set = true;
        if (!strcmp(op->flag, "duration")) o->duration_set = true;
    }
    return finish(o, err, errlen);
}
