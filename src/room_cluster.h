/* room_cluster.h: rooms shared by several instances through Redis (--redis; issue 13).
 *
 * The application's side of the bus (cluster/bus.h): it subscribes the core's rooms, reads
 * their state from Redis when they open or the link returns, applies what other instances
 * published (ops in revision order, chat in seq order, presence, cursors, elements) and sends
 * ops to Redis one at a time per room (a compare-and-set at the room's head: on a conflict it
 * reads the ops it missed, rebases and tries again). An op is applied to the local document
 * only as Redis ordered it, and acked once committed there and durable in this instance's op
 * log. room.c stays the single-instance path; it publishes to the bus itself where a message
 * only needs to reach Redis (chat, presence, cursors, elements).
 */
#ifndef RINGROOM_ROOM_CLUSTER_H
#define RINGROOM_ROOM_CLUSTER_H

#include "room.h"

struct bus_handler;

/* The handler the core's bus calls (bus_init). */
struct bus_handler room_cluster_handler(struct app *app);

/* An op from a member (proto.c, with --redis): queued for its commit. ERR_NONE, or the error
 * for the sender (the op is not applied): not-joined, cluster-unavailable (Redis unreachable,
 * or too many ops waiting), store-unavailable, rev-future. */
enum err_code room_cluster_op(struct app *app, struct session *s, int64_t base_rev, ot_op *op, const char *cid,
                              size_t cid_len, uint64_t cseq);

/* GET /rooms and /history with --redis: fn(app, ctx, rm) runs once the room is current with
 * Redis (at once if it is; a room not in memory is opened and followed for a while, so
 * every instance answers for every room). rm is NULL when it cannot be: Redis unreachable,
 * too many rooms; the caller then answers from what this instance has. */
void room_cluster_when_current(struct app *app, const char *name, size_t len, room_wait_fn fn, void *ctx);

/* Every tick: presence heartbeats of the core's rooms (every presence-ttl / 3), and ops that
 * waited --redis-timeout for a Redis that is not there are refused. */
void room_cluster_tick(struct app *app);

#endif
