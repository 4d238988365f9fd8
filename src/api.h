/* api.h: answers to HTTP requests (application layer): /health, /metrics, /rooms/<room>,
 * /history/<room>, the files of the web page, and the WebSocket upgrades of /ws and /echo.
 * api_handle is the application's on_request (app_entry.c): it finds the request's route in
 * its table, then writes the whole response into the connection's output queue before
 * returning, upgrades the connection, or hands it to the core that owns the room it names.
 * None blocks the core.
 */
#ifndef RINGROOM_API_H
#define RINGROOM_API_H

#include "app.h"
#include "conn.h"
#include "http.h"

void api_handle(struct app *app, struct conn *c, const struct http_request *req);

#endif
