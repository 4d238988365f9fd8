/* api.h: answers to HTTP requests that are not WebSocket upgrades: /health, /metrics,
 * /rooms/<room>, /history/<room> and the files of the web page. Each handler writes its whole
 * response into the connection's output queue before returning; none blocks the core. */
#ifndef RINGROOM_API_H
#define RINGROOM_API_H

#include "conn.h"
#include "core.h"
#include "http.h"

void api_handle(struct core *co, struct conn *c, const struct http_request *req,
                enum http_route route, struct http_slice arg);

#endif
