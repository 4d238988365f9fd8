/* link.h: one connection to Redis, driven by a core's io_uring (hiredis's async API).
 *
 * hiredis parses and encodes RESP and keeps the callbacks of the commands in flight; this
 * file is the event-loop adapter hiredis asks for (its ev.addRead/addWrite hooks), written
 * for the core's ring because hiredis ships adapters only for libevent, libev, libuv and the
 * like: the socket is watched with one-shot IORING_OP_POLL_ADD requests, output is flushed
 * once per loop turn (a write syscall only when commands were queued), so no core ever blocks
 * on Redis. A link reconnects by itself with a backoff after an error, and drops a connection
 * whose oldest command has waited --redis-timeout (a stopped or partitioned Redis keeps the
 * TCP connection open; hiredis 0.14 has no command timeout of its own).
 *
 * Ownership: a link belongs to one core (its thread only) and to the bus that embeds it
 * (cluster/bus.h). Every command's callback runs exactly once: with the reply, or with NULL
 * when the connection ends before it (hiredis's contract, kept on a forced drop). The round
 * trip of every answered command goes into the core's redis_rtt histogram.
 */
#ifndef RINGROOM_CLUSTER_LINK_H
#define RINGROOM_CLUSTER_LINK_H

#include "core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redisAsyncContext;
struct redisReply;

enum link_state { LINK_DOWN = 0, LINK_CONNECTING, LINK_UP };

/* Called when the link comes up (connected and, with a /DB, selected) or goes down (an
 * error, Redis closed it, a timeout). Every command in flight has had its NULL callback
 * before on_down runs. */
typedef void (*link_event_fn)(void *arg, bool up);
/* A reply (NULL: the connection ended first). `reply` is hiredis's and freed after return. */
typedef void (*link_reply_fn)(void *arg, struct redisReply *reply, void *privdata);

#define LINK_HOST_MAX 256
#define LINK_PENDING_MAX 65536   /* commands in flight per link; more are refused */

struct link {
    struct core *co;
    uint32_t idx;                /* which link of the core (user_data), and its generation */
    uint32_t gen;
    char host[LINK_HOST_MAX];
    int port, db;
    uint32_t timeout_ms;
    struct redisAsyncContext *ac;
    enum link_state state;
    bool want_read, want_write, poll_armed;
    uint32_t poll_mask;          /* of the poll in flight */
    uint64_t next_attempt_ms;    /* DOWN: when to try again */
    uint32_t backoff_ms;
    link_event_fn on_event;
    void *arg;
    /* send times of the commands in flight, oldest first (replies come back in order) */
    uint64_t *sent_ns;
    uint32_t sent_head, sent_count;
    link_reply_fn on_channel;    /* pub/sub: confirmations and messages (NULL: not a subscriber) */
    uint64_t reconnects;
    const char *drop_why;        /* link_drop's reason, for the log line on_disconnect writes */
};

/* Prepares a link (not connected: link_tick connects). 0 or -ENOMEM. */
int link_init(struct link *l, struct core *co, uint32_t idx, const char *uri, uint32_t timeout_ms,
              link_event_fn on_event, link_reply_fn on_channel, void *arg);
void link_free(struct link *l);
static inline bool link_up(const struct link *l) { return l->state == LINK_UP; }

/* Queues a command (argv with lengths). fn runs once with its reply, or with NULL. False
 * (fn not called) when the link is not up or too many commands are in flight. */
bool link_command(struct link *l, link_reply_fn fn, void *arg, void *privdata, int argc, const char **argv,
                  const size_t *lens);
/* Pub/sub: SUBSCRIBE / UNSUBSCRIBE one channel. The link's on_channel (link_init) runs for
 * the confirmations and for every message of its channels (hiredis's subscription callback),
 * and with NULL for each channel when the link ends. A link that subscribed is a subscriber
 * for the life of its connection (Redis accepts nothing else on it). */
bool link_subscribe(struct link *l, const char *channel, size_t len);
bool link_unsubscribe(struct link *l, const char *channel, size_t len);

/* Loop hooks, called by the owner: a UD_REDIS completion for this link, the end of a turn
 * (flushes queued commands, arms the poll), the tick (reconnects, timeouts). */
void link_on_cqe(struct link *l, struct io_uring_cqe *cqe);
void link_flush(struct link *l);
void link_tick(struct link *l);
/* Drops the connection now (callbacks get NULL, on_event(false) runs); it reconnects later. */
void link_drop(struct link *l, const char *why);

#endif
