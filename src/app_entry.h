/* app_entry.h: how the application plugs into the layers below it (the top of the
 * application layer).
 *
 * app_init registers the application with the transport (a conn_handler: HTTP requests go to
 * the routes of api.c, WebSocket messages to proto.c or the echo, the drain's `bye` and closes
 * to the rooms), with the loop (the rooms' end-of-turn hook) and with the store (the durable
 * callback that acks and broadcasts ops). Each entry point hands app->out down explicitly as
 * the JSON writer of what it encodes. Called by the process layer on the core's own thread.
 */
#ifndef RINGROOM_APP_ENTRY_H
#define RINGROOM_APP_ENTRY_H

#include "app.h"

/* The handler the transport must be created with (its arg is app). */
struct conn_handler app_conn_handler(struct app *app);
/* Sets up the rooms and the protocol state, registers the rooms' turn hook on the loop and the
 * durable callback on the store. 0 or -ENOMEM. */
int app_init(struct app *app, struct conn_core *cc, struct app_shared *shared, struct store_core *store);
/* After the transport has closed every connection. */
void app_free(struct app *app);

#endif
