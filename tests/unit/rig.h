/* rig.h: a real server core for the unit tests of the application layer (test_room.c,
 * test_proto.c), wired bottom-up as server.c's worker_main wires one: core_init (a small
 * fixed-file table, no listener), conn_core_init with app_conn_handler, handover_init, app_init
 * over a real store (store_open on a fresh temporary --data-dir), then the store's turn, tick and
 * completion hooks. Nothing is mocked: clients are socketpairs whose server end is put into the
 * ring's fixed-file table and adopted as a WebSocket connection (conn_adopt, conn_adopted); the
 * test plays the client on the other end with masked frames (ws.h) and reads the server's frames
 * back with a ws_reader, each message parsed with jansson.
 *
 * The loop is driven by hand: rig_turn runs one core_turn of every core, then moves bytes
 * between the clients and their sockets. Every wait is bounded (RIG_MAX_TURNS turns of at most
 * 10 ms): a test that does not get what it expects fails instead of hanging.
 *
 * Include after json.h (room.h, proto.h...): jansson's json_is_*() are one-argument macros.
 */
#ifndef RINGROOM_TESTS_RIG_H
#define RINGROOM_TESTS_RIG_H

#include "app.h"
#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RIG_MAX_CORES 2
#define RIG_MAX_TURNS 200
#define RIG_TABLE_SIZE 64

struct rig;
struct client;

/* config_defaults, then what the tests want everywhere (quiet log). The caller sets the rest;
 * data_dir is set by rig_open. */
void rig_config(struct config *cfg);

/* A store on a fresh temporary data dir and `ncores` cores (1 or 2) wired as worker_main does.
 * Fails the test on any error. */
struct rig *rig_open(const struct config *cfg, uint32_t ncores);
/* Tears everything down in order (finish, conn_core_free, app_free, core_free, store_close),
 * removes the data dir and frees the clients. */
void rig_close(struct rig *r);
/* cmocka teardown: rig_close(*state) if the test opened one. */
int rig_teardown(void **state);

struct app *rig_app(struct rig *r, uint32_t core);
const struct config *rig_cfg(const struct rig *r);
/* One turn of every core, then client I/O. */
void rig_turn(struct rig *r);
/* n turns. */
void rig_turns(struct rig *r, int n);

/* ---- clients ---- */

/* A new WebSocket connection adopted by core `core`. Fails the test on any error. */
struct client *rig_connect(struct rig *r, uint32_t core, const char *name);
/* The server side of the client: NULL once the connection is gone. */
struct conn *client_conn(struct client *cl);
/* Closes the client's end of the socket: the server reads EOF. */
void client_hangup(struct client *cl);

/* A masked frame with any opcode / a text frame / a formatted text frame. Sent at the next turn. */
void client_send_frame(struct client *cl, uint8_t opcode, const void *payload, size_t len);
void client_send(struct client *cl, const char *json);
void client_sendf(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How many messages have arrived and not been taken. */
size_t client_pending(const struct client *cl);

/* The helpers below fail the test at the caller's line (they are macros over *_at functions). */

/* The next message (a JSON object), turning the loop until one arrives (fails the test after
 * RIG_MAX_TURNS turns). Valid until the next call for this client. */
#define client_next(cl) client_next_at((cl), __FILE__, __LINE__)
/* client_next, and its "type" must be `type`. */
#define client_expect(cl, type) client_expect_at((cl), (type), __FILE__, __LINE__)
/* client_next: an `error` with this code and ref (NULL: "ref" must be null) and a message. */
#define client_expect_error(cl, code, ref) client_expect_error_at((cl), (code), (ref), __FILE__, __LINE__)
/* Turns the loop n times; nothing may have arrived for the client. */
#define client_none(cl, turns) client_none_at((cl), (turns), __FILE__, __LINE__)
/* Sends a message of an unknown type and expects its `unknown-type` error as the very next
 * message: everything the server queued for the client before it has been taken. */
#define client_barrier(cl) client_barrier_at((cl), __FILE__, __LINE__)
/* A join that must succeed: returns the `joined` message. */
#define client_join(cl, room) client_join_at((cl), (room), __FILE__, __LINE__)

/* The string / integer member `key` of o; fails the test if absent or of another type. */
#define jstr(o, key) jstr_at((o), (key), __FILE__, __LINE__)
#define jint(o, key) jint_at((o), (key), __FILE__, __LINE__)
/* o compact-encoded (sorted keys), in a buffer reused at each call. */
const char *jdump(const json_t *o);

json_t *client_next_at(struct client *cl, const char *file, int line);
json_t *client_expect_at(struct client *cl, const char *type, const char *file, int line);
json_t *client_expect_error_at(struct client *cl, const char *code, const char *ref, const char *file, int line);
void client_none_at(struct client *cl, int turns, const char *file, int line);
void client_barrier_at(struct client *cl, const char *file, int line);
json_t *client_join_at(struct client *cl, const char *room, const char *file, int line);
const char *jstr_at(const json_t *o, const char *key, const char *file, int line);
json_int_t jint_at(const json_t *o, const char *key, const char *file, int line);

#endif
