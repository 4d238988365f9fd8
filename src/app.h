/* app.h: the application layer's state on one core, and how it plugs into the layers below.
 *
 * struct app is what room.c, proto.c and api.c work with: the core's rooms and protocol
 * scratch space, its op-log writer (store.h), the transport it sends through (conn.h) and a
 * JSON writer that the entry points below pass explicitly to whatever encodes. app_init
 * registers the application with the transport (a conn_handler: HTTP requests go to the
 * route table in api.c, WebSocket messages to proto.c or the echo, closes to the rooms), with
 * the loop (the rooms' end-of-turn hook) and with the store (the durable callback that acks
 * and broadcasts ops).
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
};

/* The handler the transport must be created with (its arg is app). */
struct conn_handler app_conn_handler(struct app *app);
/* Sets up the rooms and the protocol state, registers the rooms' turn hook on the loop and the
 * durable callback on the store. 0 or -ENOMEM. */
int app_init(struct app *app, struct conn_core *cc, struct app_shared *shared, struct store_core *store);
/* After the transport has closed every connection. */
void app_free(struct app *app);

#endif
