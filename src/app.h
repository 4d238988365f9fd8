/* app.h: the application layer's state on one core (a header only: every application file
 * reads it, none owns it).
 *
 * struct app is what room.c, proto.c, api.c and metrics.c work with: the core's rooms and
 * protocol scratch space, its op-log writer (store.h), the transport it sends through
 * (conn.h) and a JSON writer that the entry points (app_entry.h) pass explicitly to whatever
 * encodes.
 *
 * struct app_shared holds the process facts the application reads (built by the process
 * layer before the cores start, read-only afterwards except the room count).
 */
#ifndef RINGROOM_APP_H
#define RINGROOM_APP_H

#include "config.h"
#include "conn.h"
#include "core.h"
#include "json.h"

#include <stdatomic.h>
#include <stdint.h>

struct webfiles;
struct store;
struct store_core;
struct rooms;
struct proto_ctx;
struct bus;

/* What connections are, for the application (conn.kind). */
enum app_kind { APP_KIND_HTTP = 0, APP_KIND_WS, APP_KIND_ECHO };

struct app_shared {
    const struct config *cfg;
    const char *version;
    struct core_group *group;     /* every core, for their statistics (/health, /metrics) */
    uint64_t start_ms;            /* clock_ms() at start */
    _Atomic uint32_t rooms;       /* rooms in memory, for --max-rooms (touched on create/free only) */
    struct webfiles *web;
    struct store *store;
    char instance[8];             /* --redis: this process's id (server.c) */
};

struct app {
    struct core *co;
    struct conn_core *cc;
    const struct config *cfg;
    struct app_shared *shared;
    struct store_core *store;     /* this core's op log writer and stored rooms */
    struct rooms *rooms;          /* room.c */
    struct proto_ctx *proto;      /* proto.c */
    jw out;                       /* scratch writer, handed down explicitly */
    jsmntok_t *toks;              /* JSON tokens of the message being handled */
    int max_toks;
    struct bus *bus;              /* --redis: this core's side of the shared rooms; NULL: off */
    char instance[8];             /* --redis: this process's id, in participant ids and op cids */
};

#endif
