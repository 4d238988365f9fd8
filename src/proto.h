/* proto.h: protocol v1 messages from clients on /ws (docs/protocol.md).
 *
 * Parses each text message (strict JSON through json.h), checks every field, applies the
 * per-connection rate limit and calls the room layer; answers `error` for anything wrong
 * and keeps the connection open. A `join` for a room owned by another core hands the
 * connection over (handover.h) before anything else happens. Application layer (app.h). Room broadcasts are written by
 * room.c; `error` replies are written here.
 */
#ifndef RINGROOM_PROTO_H
#define RINGROOM_PROTO_H

#include "json.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

struct app;
struct conn;

/* The core's parsing state (app->proto). 0 or -ENOMEM. */
int proto_init(struct app *app);
void proto_free(struct app *app);

/* One complete WebSocket data message (opcode TEXT or BINARY) from a /ws connection. Replies
 * and broadcasts are encoded with app->out, handed down explicitly. */
void proto_on_message(struct app *app, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode);

/* Sends {"type":"error","code","message","ref"} to the connection, encoded with w. */
void proto_send_error(struct app *app, jw *w, struct conn *c, enum err_code code, const char *message,
                      enum msg_type ref);

#endif
