/* rl_opts.h: ringload's command line: every flag, its default, presets and validation.
 *
 * One table (rl_opts.c) describes each flag once for parsing and --help. Presets are applied
 * first and explicit flags override them. Defaults that depend on the scenario (URL path,
 * connection count, rate) are filled in by rl_opts_finish() after parsing. The struct is
 * plain data owned by the caller and read-only once the run starts.
 */
#ifndef RINGLOAD_OPTS_H
#define RINGLOAD_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rl_scenario_kind { RL_SC_ECHO, RL_SC_IDLE, RL_SC_CHAT, RL_SC_CURSOR, RL_SC_OT, RL_SC_CHURN, RL_SC_COUNT };
enum rl_engine_kind { RL_ENGINE_URING, RL_ENGINE_EPOLL };

/* --url takes one URL or a comma-separated list of up to RL_MAX_TARGETS (server instances
 * sharing rooms, e.g. through Redis); the same URL may appear more than once. */
#define RL_MAX_TARGETS 16
#define RL_URL_LIST_MAX 4096
/* --server-pid takes one pid or a comma-separated list (the instances, a Redis...). */
#define RL_MAX_SERVER_PIDS 32

struct rl_target {
    char url[256];                 /* ws://HOST:PORT/PATH as given (trimmed) */
    char host[64];                 /* numeric IPv4 loopback address */
    uint16_t port;
    char path[160];                /* request target, e.g. /ws or /echo */
};

struct rl_opts {
    /* target(s) */
    char url[RL_URL_LIST_MAX];     /* as given: one URL or a comma-separated list */
    struct rl_target targets[RL_MAX_TARGETS];
    uint32_t ntargets;             /* >= 1 once parsed */
    bool url_set;
    /* shape */
    enum rl_scenario_kind scenario;
    char preset[32];               /* "" or the preset applied */
    uint32_t conns;
    uint32_t rooms;                /* chat/cursor/ot/churn: rooms (documents) */
    uint32_t room_size;            /* members per room */
    uint32_t senders;              /* senders per room (0 = every member) */
    char room_prefix[32];
    /* schedule */
    double rate;                   /* messages/s (per connection if rate_per_conn) */
    bool rate_per_conn;
    bool rate_set;
    bool closed_loop;              /* --rate max: throughput mode, not latency */
    uint32_t pipeline;             /* closed loop: messages in flight per connection */
    uint32_t duration_ms, warmup_ms, drain_ms, connect_timeout_ms;
    bool duration_set;
    double connect_rate;           /* connections/s during setup (0 = as fast as allowed) */
    uint32_t max_connecting;       /* connects in flight at once */
    uint64_t late_threshold_ns;
    /* messages */
    uint32_t size;                 /* echo payload / chat text bytes */
    bool size_set;
    bool text_payload;             /* echo: text frames instead of binary */
    uint32_t churn_msgs;
    uint32_t doc_max;              /* ot: document length (UTF-16 units) editors keep below */
    /* process */
    uint32_t workers;              /* 0 = automatic */
    uint32_t source_ips;           /* 0 = automatic */
    enum rl_engine_kind engine;
    uint64_t seed;
    bool quiet;
    /* reports */
    char json_path[256];
    char spectrum_path[256];
    char acked_log[256];           /* ot: "" or the file that gets one line per ack */
    char slo[512];
    int server_pids[RL_MAX_SERVER_PIDS];   /* sampled processes (CPU and RSS summed) */
    uint32_t nserver_pids;         /* 0 = none */
};

enum rl_opts_result { RL_OPTS_OK = 0, RL_OPTS_EXIT = 1, RL_OPTS_ERROR = 2 };

/* Parses argv into *o (defaults, then --preset, then the other flags in order), then fills
 * scenario-dependent defaults and validates. RL_OPTS_EXIT: --help/--version printed. On
 * RL_OPTS_ERROR `err` holds one line. */
int rl_opts_parse(struct rl_opts *o, int argc, char **argv, char *err, size_t errlen);

void rl_opts_usage(FILE *out);

/* Parses a comma-separated list of ws://HOST:PORT/PATH URLs (HOST a 127.x.x.x address or
 * localhost; blanks around an entry are ignored) into out[0..*n). False, with one line in
 * `err`, on an empty list or entry, a bad or non-loopback URL, or more than `max` entries. */
bool rl_opts_parse_urls(const char *list, struct rl_target *out, uint32_t max, uint32_t *n, char *err, size_t errlen);

/* The target (index into o->targets) of connection `gid` (global id over every worker) in
 * the echo, idle, chat, cursor and ot scenarios. Room scenarios: member m of room k (ids
 * k * room_size + m) goes to (k + m) mod ntargets, so every room's members are spread over
 * the instances (consecutive members on consecutive instances) and the rooms' first members
 * rotate, which keeps the instances level when room_size is not a multiple of ntargets.
 * Others: gid mod ntargets. Churn assigns per cycle (rl_run.c). */
uint32_t rl_opts_target_of(const struct rl_opts *o, uint64_t gid);

const char *rl_scenario_name(enum rl_scenario_kind k);
const char *rl_engine_name(enum rl_engine_kind k);

/* Sending connections over the whole run (every worker): every connection for echo, the
 * first --senders members of each room for chat/cursor/ot, none for idle and churn. */
uint64_t rl_opts_senders(const struct rl_opts *o);

/* Messages per second in total that the options ask for (0 for idle / closed loop), given
 * the number of sending connections. */
double rl_opts_total_rate(const struct rl_opts *o, uint32_t nsenders);

#endif
