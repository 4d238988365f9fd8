/* app_entry.c: the application's entry points from the layers below (see app_entry.h). */
#include "app_entry.h"

#include "api.h"
#include "proto.h"
#include "room.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>

#define MAX_JSON_TOKENS 65536 /* per message; more is answered with too-large */

static void on_request(void *arg, struct conn *c, const struct http_request *req)
{
    api_handle(arg, c, req);
}

static void on_message(void *arg, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode)
{
    struct app *app = arg;
    if (c->kind == APP_KIND_ECHO) conn_send_frame(app->cc, c, opcode, data, len);
    else proto_on_message(app, c, data, len, opcode);
}

static void on_drain(void *arg, struct conn *c)
{
    struct app *app = arg;
    static const char bye[] = "{\"type\":\"bye\",\"reason\":\"draining\"}";
    if (c->kind == APP_KIND_WS) conn_send_frame(app->cc, c, WS_OP_TEXT, bye, sizeof bye - 1);
}

static void on_close(void *arg, struct conn *c)
{
    session_detach(arg, conn_user(c));
}

struct conn_handler app_conn_handler(struct app *app)
{
    return (struct conn_handler){ .arg = app, .on_request = on_request, .on_message = on_message,
                                  .on_drain = on_drain, .on_close = on_close };
}

static uint32_t end_of_turn(void *arg)
{
    struct app *app = arg;
    return rooms_end_of_turn(app, &app->out);
}

static void on_durable(void *arg, struct store_room *sr, uint64_t rev, uint32_t conn_idx, uint32_t conn_gen,
                       enum store_outcome outcome)
{
    struct app *app = arg;
    room_op_durable(app, &app->out, sr, rev, (struct conn_ref){ conn_idx, conn_gen }, outcome);
}

int app_init(struct app *app, struct conn_core *cc, struct app_shared *shared, struct store_core *store)
{
    app->co = cc->co;
    app->cc = cc;
    app->cfg = shared->cfg;
    app->shared = shared;
    app->store = store;
    app->max_toks = MAX_JSON_TOKENS;
    app->toks = calloc((size_t)app->max_toks, sizeof *app->toks);
    jw_init(&app->out, 4096);
    if (!app->toks || app->out.oom || rooms_init(app) || proto_init(app)) return -ENOMEM;
    core_on_turn(app->co, end_of_turn, app);
    store_core_attach(store, app->co, on_durable, app);
    return 0;
}

void app_free(struct app *app)
{
    rooms_free(app);
    proto_free(app);
    jw_free(&app->out);
    free(app->toks);
    app->toks = NULL;
}
