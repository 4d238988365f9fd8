/* config.c: the option table and its parser (see config.h). getopt is not used because the
 * same table must also read RINGROOM_* variables and print the help, and long options with
 * `--flag value` and `--flag=value` are all ringroom has. */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_U32, OPT_SIZE, OPT_DURATION, OPT_STRING, OPT_LISTEN, OPT_LOGLEVEL, OPT_FSYNC, OPT_BOOL, OPT_STORE, OPT_REDIS };

struct opt {
    const char *flag;      /* without the leading -- */
    enum opt_type type;
    size_t offset, size;   /* where the value goes, and its width (4 or 8 bytes for numbers) */
    uint64_t min, max;     /* numeric bounds, inclusive */
    const char *def;       /* default, as text: parsed like user input */
    const char *help;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
static const struct opt options[] = {
    { "listen", OPT_LISTEN, F(listen_host), 0, 0, "127.0.0.1:8080", "HOST:PORT to serve HTTP and WebSocket on" },
    { "threads", OPT_U32, F(threads), 0, 256, "0", "worker threads, one io_uring each (0 = one per usable CPU)" },
    { "max-conns", OPT_U32, F(max_conns), 0, 10000000, "0", "connection limit for the process (0 = what the fixed-file tables can hold)" },
    { "max-frame", OPT_SIZE, F(max_frame), 1, 1ull << 31, "16MiB", "largest WebSocket frame payload (bigger: close 1009)" },
    { "max-message", OPT_SIZE, F(max_message), 1, 1ull << 31, "16MiB", "largest WebSocket message, fragments joined (bigger: close 1009)" },
    { "max-backlog", OPT_SIZE, F(max_backlog), 1024, 1ull << 32, "4MiB", "queued output bytes per connection before a slow reader is closed (1008)" },
    { "max-header-bytes", OPT_SIZE, F(max_header_bytes), 256, 1 << 20, "8KiB", "largest HTTP request head (bigger: 431)" },
    { "max-body-bytes", OPT_SIZE, F(max_body_bytes), 0, 1 << 30, "64KiB", "largest HTTP request body (bigger: 413)" },
    { "idle-timeout", OPT_DURATION, F(idle_timeout_ms), 100, 86400000, "60s", "WebSocket silence limit: a ping after half of it, close 1001 if nothing arrives in the other half" },
    { "handshake-timeout", OPT_DURATION, F(handshake_timeout_ms), 100, 3600000, "10s", "time to send a complete HTTP request (also HTTP keep-alive idle and close linger)" },
    { "drain-timeout", OPT_DURATION, F(drain_timeout_ms), 0, 3600000, "10s", "on SIGTERM, time allowed for clients to leave before exit" },
    { "max-rooms", OPT_U32, F(max_rooms), 1, 10000000, "100000", "rooms in memory per process" },
    { "max-room-members", OPT_U32, F(max_room_members), 1, 1000000, "1000", "participants per room" },
    { "max-doc-bytes", OPT_SIZE, F(max_doc_bytes), 1, 1ull << 30, "1MiB", "largest document (UTF-8 bytes)" },
    { "max-chat-bytes", OPT_SIZE, F(max_chat_bytes), 1, 1 << 20, "4KiB", "largest chat text (UTF-8 bytes)" },
    { "rate-limit", OPT_U32, F(rate_limit), 0, 10000000, "1000", "messages per second per connection on /ws, burst of one second (0 = off); beyond: rate-limited error" },
    { "max-room-elements", OPT_U32, F(max_room_elements), 1, 10000000, "10000", "canvas elements per room" },
    { "max-element-bytes", OPT_SIZE, F(max_element_bytes), 16, 1 << 24, "64KiB", "largest canvas element (JSON bytes)" },
    { "cursor-interval", OPT_DURATION, F(cursor_interval_ms), 1, 10000, "16ms", "cursor updates per participant are coalesced to one per interval" },
    { "ot-window", OPT_U32, F(ot_window), 1, 10000000, "1000", "ops of history kept in memory per document" },
    { "web-dir", OPT_STRING, F(web_dir), 0, 0, "web", "directory of the demo page served at /" },
    { "store", OPT_STORE, F(store), 0, 0, "embedded", "where accepted ops go: embedded (the op log in --data-dir) or a MongoDB URI, mongodb://HOST[:PORT]/DB[?w=...&journal=...] (default write concern here: w=1, journal=true; docs/operations.md)" },
    { "data-dir", OPT_STRING, F(data_dir), 0, 0, "./data", "directory of the op log (segments, created if missing; one server per directory)" },
    { "fsync", OPT_FSYNC, F(fsync_mode), 0, 0, "batch", "always (a write + fdatasync as soon as the previous one ends), batch (at most one per --fsync-interval per core) or off (acks after the write, no fdatasync: survives a crash of the process, not of the machine)" },
    { "fsync-interval", OPT_DURATION, F(fsync_interval_ms), 0, 1000, "2ms", "with --fsync batch: least time between the starts of two write + fdatasync of a core" },
    { "snapshot-every", OPT_U32, F(snapshot_every), 1, 100000000, "1000", "ops per room between snapshots of its document in the log" },
    { "chat-history", OPT_U32, F(chat_history), 0, 100000, "50", "chat messages kept per room and sent in `joined`" },
    { "history-window", OPT_U32, F(history_window), 1, 100000000, "10000", "ops per room kept in memory for GET /history" },
    { "ot-max-lag", OPT_U32, F(ot_max_lag), 0, 100000000, "10000", "an op based up to this many revisions back is still transformed, against the op log's history once it is older than --ot-window (at most --history-window); older: rev-too-old" },
    { "segment-bytes", OPT_SIZE, F(segment_bytes), 4096, 1ull << 40, "64MiB", "op log segment size before a new segment is started" },
    { "recover-truncate", OPT_BOOL, F(recover_truncate), 0, 0, "false", "at startup, cut a segment at a corrupt record (dropping what follows) instead of refusing to start" },
    { "redis", OPT_REDIS, F(redis), 0, 0, "", "share rooms with other instances through Redis, redis://HOST:PORT[/DB] (empty: off; docs/operations.md, Scale-out)" },
    { "redis-timeout", OPT_DURATION, F(redis_timeout_ms), 100, 600000, "5s", "with --redis: a command unanswered this long drops the link (it reconnects, resubscribes and catches up)" },
    { "presence-ttl", OPT_DURATION, F(presence_ttl_ms), 300, 3600000, "10s", "with --redis: participants of an instance that stopped refreshing them (killed) leave the other instances' rooms within 4/3 of this" },
    { "log-level", OPT_LOGLEVEL, F(log_level), 0, 0, "info", "debug, info, warn or error" },
};
#undef F

#define NOPTS (sizeof options / sizeof options[0])

bool config_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return false;
    uint64_t mul = 1;
    if (*end) {
        if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k")) mul = 1ull << 10;
        else if (!strcmp(end, "M") || !strcmp(end, "MiB")) mul = 1ull << 20;
        else if (!strcmp(end, "G") || !strcmp(end, "GiB")) mul = 1ull << 30;
        else return false;
    }
    if (v > UINT64_MAX / mul) return false;
    *out = v * mul;
    return true;
}

bool config_parse_duration_ms(const char *s, uint32_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return false;
    uint64_t mul;
    if (!strcmp(end, "ms")) mul = 1;
    else if (!strcmp(end, "s")) mul = 1000;
    else if (!strcmp(end, "m")) mul = 60000;
    else if (!strcmp(end, "h")) mul = 3600000;
    else return false;
    if (v > UINT32_MAX / mul) return false;
    *out = (uint32_t)(v * mul);
    return true;
}

bool config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return false;
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') { s++; hl -= 2; }   /* [::1]:8080 */
    if (hl == 0 || hl >= hostlen) return false;
    const char *p = colon + 1;
    if (!*p) return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return false;
    unsigned long v = strtoul(p, NULL, 10);
    if (v > 65535 || strlen(p) > 5) return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (uint16_t)v;
    return true;
}

static const char *type_hint(enum opt_type t)
{
    switch (t) {
    case OPT_U32: return "N";
    case OPT_SIZE: return "BYTES";
    case OPT_DURATION: return "DURATION";
    case OPT_STRING: return "PATH";
    case OPT_LISTEN: return "HOST:PORT";
    case OPT_LOGLEVEL: return "LEVEL";
    case OPT_FSYNC: return "MODE";
    case OPT_BOOL: return "[=BOOL]";
    case OPT_STORE: return "URI";
    case OPT_REDIS: return "URI";
    }
    return "VALUE";
}

/* Applies one textual value; on failure writes the one-line error. `origin` is "--flag" or
 * "RINGROOM_FLAG". */
static bool apply_opt(struct config *cfg, const struct opt *o, const char *val, const char *origin,
                      char *err, size_t errlen)
{
    char *base = (char *)cfg + o->offset;
    switch (o->type) {
    case OPT_U32: {
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)val[0])) goto bad_int;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || *end || v < o->min || v > o->max) goto bad_int;
        *(uint32_t *)base = (uint32_t)v;
        return true;
    bad_int:
        snprintf(err, errlen, "%s: expected an integer from %" PRIu64 " to %" PRIu64 ", got '%s'",
                 origin, o->min, o->max, val);
        return false;
    }
    case OPT_SIZE: {
        uint64_t v;
        if (!config_parse_size(val, &v) || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: expected a size from %" PRIu64 " to %" PRIu64
                     " bytes (suffixes K, M, G), got '%s'", origin, o->min, o->max, val);
            return false;
        }
        if (o->size == sizeof(uint64_t)) *(uint64_t *)base = v;
        else *(uint32_t *)base = (uint32_t)v;   /* o->max keeps it in range */
        return true;
    }
    case OPT_DURATION: {
        uint32_t v;
        if (!config_parse_duration_ms(val, &v) || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: expected a duration from %" PRIu64 "ms to %" PRIu64
                     "ms with a unit (ms, s, m, h), got '%s'", origin, o->min, o->max, val);
            return false;
        }
        *(uint32_t *)base = v;
        return true;
    }
    case OPT_REDIS:
        if (*val && !config_parse_redis_uri(val, (char[256]){ 0 }, 256, &(int){ 0 }, &(int){ 0 })) {
            snprintf(err, errlen, "%s: expected redis://HOST:PORT[/DB] or nothing, got '%s'", origin, val);
            return false;
        }
        if (strlen(val) >= o->size) {
            snprintf(err, errlen, "%s: longer than %zu bytes", origin, o->size - 1);
            return false;
        }
        strcpy(base, val);
        return true;
    case OPT_STORE:
        if (strcmp(val, "embedded") && strncmp(val, "mongodb://", 10) && strncmp(val, "mongodb+srv://", 14)) {
            snprintf(err, errlen, "%s: expected embedded or a mongodb:// URI, got '%s'", origin, val);
            return false;
        }
        /* fall through */
    case OPT_STRING:
        if (strlen(val) >= o->size) {
            snprintf(err, errlen, "%s: longer than %zu bytes", origin, o->size - 1);
            return false;
        }
        strcpy(base, val);
        return true;
    case OPT_LISTEN:
        if (!config_parse_hostport(val, cfg->listen_host, sizeof cfg->listen_host, &cfg->listen_port)) {
            snprintf(err, errlen, "%s: expected HOST:PORT (e.g. 127.0.0.1:8080), got '%s'", origin, val);
            return false;
        }
        return true;
    case OPT_FSYNC: {
        static const char *const fm[] = { [FSYNC_ALWAYS] = "always", [FSYNC_BATCH] = "batch", [FSYNC_OFF] = "off" };
        for (int i = 0; i < 3; i++)
            if (!strcmp(val, fm[i])) { *(int *)base = i; return true; }
        snprintf(err, errlen, "%s: expected always, batch or off, got '%s'", origin, val);
        return false;
    }
    case OPT_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes")) { *(bool *)base = true; return true; }
        if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no")) { *(bool *)base = false; return true; }
        snprintf(err, errlen, "%s: expected true or false, got '%s'", origin, val);
        return false;
    case OPT_LOGLEVEL: {
        static const char *const lv[] = { "debug", "info", "warn", "error" };
        for (int i = 0; i < 4; i++)
            if (!strcmp(val, lv[i])) { *(int *)base = i; return true; }
        snprintf(err, errlen, "%s: expected debug, info, warn or error, got '%s'", origin, val);
        return false;
    }
    }
    return false;
}

static void env_name(const struct opt *o, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "RINGROOM_");
    for (const char *p = o->flag; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

void config_defaults(struct config *cfg)
{
    char err[256];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        bool ok = apply_opt(cfg, &options[i], options[i].def, options[i].flag, err, sizeof err);
        (void)ok;   /* the defaults are constants checked by the config unit test */
    }
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: ringroom [options]\n\n"
                 "A thread-per-core io_uring collaboration server (HTTP/1.1 + WebSocket).\n"
                 "Every option can also be set with the environment variable shown.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &options[i];
        char env[64], left[80];
        env_name(o, env, sizeof env);
        snprintf(left, sizeof left, "--%s %s", o->flag, type_hint(o->type));
        fprintf(out, "  %-30s %s\n  %-30s default %s, env %s\n", left, o->help, "", o->def, env);
    }
    fprintf(out, "  %-30s %s\n  %-30s %s\n", "--help", "this text", "--version", "print the version");
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(options[i].flag) == len && !strncmp(options[i].flag, name, len)) return &options[i];
    return NULL;
}

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    config_defaults(cfg);
    for (size_t i = 0; i < NOPTS; i++) {
        char env[64];
        env_name(&options[i], env, sizeof env);
        const char *v = getenv(env);
        if (v && !apply_opt(cfg, &options[i], v, env, err, errlen)) return CONFIG_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { config_usage(stdout); return CONFIG_EXIT; }
        if (!strcmp(a, "--version")) return CONFIG_VERSION;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see --help)", a);
            return CONFIG_ERROR;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_opt(name, nlen);
        if (!o) {
            snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)nlen, name);
            return CONFIG_ERROR;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == OPT_BOOL) val = "true";     /* a bare --flag */
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s: missing value", o->flag);
                return CONFIG_ERROR;
            }
            val = argv[++i];
        }
        char origin[80];
        snprintf(origin, sizeof origin, "--%s", o->flag);
        if (!apply_opt(cfg, o, val, origin, err, errlen)) return CONFIG_ERROR;
    }
    if (cfg->redis[0] && strcmp(cfg->store, "embedded") != 0) {
        snprintf(err, errlen, "--redis with --store %s is not supported: with --redis each instance keeps the history in its own embedded op log",
                 cfg->store);
        return CONFIG_ERROR;
    }
    if (cfg->ot_max_lag > cfg->history_window) {
        snprintf(err, errlen, "--ot-max-lag (%" PRIu32 ") must be at most --history-window (%" PRIu32 ")",
                 cfg->ot_max_lag, cfg->history_window);
        return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

bool config_parse_redis_uri(const char *uri, char *host, size_t hostlen, int *port, int *db)
{
    static const char scheme[] = "redis://";
    if (strncmp(uri, scheme, sizeof scheme - 1) != 0) return false;
    const char *h = uri + sizeof scheme - 1, *end = h + strcspn(h, ":/");
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= hostlen) return false;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = 6379;
    *db = 0;
    const char *p = end;
    if (*p == ':') {
        char *e;
        long v = strtol(p + 1, &e, 10);
        if (e == p + 1 || v < 1 || v > 65535) return false;
        *port = (int)v;
        p = e;
    }
    if (*p == '/' && p[1]) {
        char *e;
        long v = strtol(p + 1, &e, 10);
        if (e == p + 1 || *e || v < 0 || v > 100000) return false;
        *db = (int)v;
        p = e;
    } else if (*p == '/') {
        p++;
    }
    return *p == '\0';
}
