/* config.h: every option of ringroom, its default, its flag and its RINGROOM_* variable.
 *
 * One table (config.c) describes each option once: parsing, validation, --help and the
 * README all come from it. Precedence: default < environment < command line. A bad value
 * is reported in one line naming the flag; the caller exits 2.
 */
#ifndef RINGROOM_CONFIG_H
#define RINGROOM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fsync_mode { FSYNC_ALWAYS, FSYNC_BATCH, FSYNC_OFF };

struct config {
    /* network */
    char listen_host[64];
    uint16_t listen_port;
    uint32_t threads;              /* 0 = one per CPU the process may run on */
    uint32_t max_conns;            /* 0 = as many as the process can hold */
    /* WebSocket */
    uint64_t max_frame;            /* payload bytes of one frame */
    uint64_t max_message;          /* bytes of one (possibly fragmented) message */
    uint64_t max_backlog;          /* queued output bytes per connection */
    /* HTTP */
    uint32_t max_header_bytes;
    uint32_t max_body_bytes;
    /* time, milliseconds */
    uint32_t idle_timeout_ms;
    uint32_t handshake_timeout_ms;
    uint32_t drain_timeout_ms;
    /* rooms */
    uint32_t max_rooms;            /* per process */
    uint32_t max_room_members;
    uint64_t max_doc_bytes;
    uint32_t max_chat_bytes;
    uint32_t rate_limit;           /* messages/s per connection, 0 = off */
    uint32_t max_room_elements;
    uint32_t max_element_bytes;
    uint32_t cursor_interval_ms;
    uint32_t ot_window;
    /* files */
    char web_dir[256];
    /* storage (src/store/store.h, docs/persistence.md) */
    char store[512];               /* "embedded" or a mongodb:// URI */
    char data_dir[256];
    int fsync_mode;                /* enum fsync_mode */
    uint32_t fsync_interval_ms;    /* batch: how long records may wait for company */
    uint32_t snapshot_every;       /* ops per room between snapshots */
    uint32_t chat_history;         /* chat messages kept per room, sent in `joined` */
    uint32_t history_window;       /* ops per room kept in memory for GET /history */
    uint32_t ot_max_lag;           /* revisions back an op may be based on (<= history_window) */
    uint64_t segment_bytes;        /* segment file size before rotation */
    bool recover_truncate;         /* drop everything after a corrupt record instead of refusing */
    /* scale-out (src/cluster/, docs/operations.md) */
    char redis[512];               /* "" = off, else redis://HOST:PORT[/DB] */
    uint32_t redis_timeout_ms;     /* a command unanswered this long drops the link */
    uint32_t presence_ttl_ms;      /* a dead instance's participants leave after at most 4/3 of it */
    /* logging */
    int log_level;                 /* enum log_level */
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT = 1 /* --help printed */, CONFIG_ERROR = 2, CONFIG_VERSION = 3 };

/* Fills *cfg from defaults, then environ, then argv. On CONFIG_ERROR `err` holds one line. */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Defaults only (tests). */
void config_defaults(struct config *cfg);

/* --help text. */
void config_usage(FILE *out);

/* Parsers shared with ringload; each returns false on a malformed or out-of-range value. */
bool config_parse_size(const char *s, uint64_t *out);        /* 64K, 1MiB, 123 */
bool config_parse_duration_ms(const char *s, uint32_t *out);  /* 500ms, 30s, 2m (unit required) */
bool config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);
bool config_parse_redis_uri(const char *s, char *host, size_t hostlen, int *port, int *db);  /* redis://H[:P][/DB] */

#endif
