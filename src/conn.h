/* conn.h: the transport layer: a client connection on one core, from accept to close.
 *
 * A connection starts in HTTP (requests, keep-alive, pipelining), may upgrade to WebSocket
 * (the application decides: conn_upgrade), and ends through CLOSING (output flushed,
 * WebSocket close sent) and LINGER (write side shut down, input drained until EOF) or
 * straight to DEAD (peer gone, timeout, teardown). A DEAD connection waits until its recv,
 * send and shutdown have completed, then its fixed-file slot is closed and the struct goes
 * back to the core's pool (generation bumped, so late completions and stale conn_refs are
 * recognised). The connection owns its parser state, its carried-over input and its output
 * queue.
 *
 * The transport knows nothing of routes, rooms or the protocol. The application registers a
 * conn_handler: every complete HTTP request goes to on_request, every WebSocket data message
 * to on_message, the drain's last words to on_drain, and on_close tells it a connection with
 * application state (conn_set_user) is gone. Holders that may outlive a connection (the op
 * log's waiters) keep a conn_ref {idx, gen} and resolve it with conn_deref.
 *
 * Everything here runs on the connection's core; struct conn_core is that core's transport
 * state (one per core, built by the process layer).
 */
#ifndef RINGROOM_CONN_H
#define RINGROOM_CONN_H

#include "config.h"
#include "core.h"
#include "http.h"
#include "outq.h"
#include "ws.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CONN_NIL UINT32_MAX

enum conn_state { CONN_FREE, CONN_HTTP, CONN_WS, CONN_CLOSING, CONN_LINGER, CONN_DEAD,
                  CONN_MOVING /* being handed to another core (handover.h) */ };

enum conn_flag {
    CF_RECV = 1 << 0,          /* multishot recv armed */
    CF_SEND = 1 << 1,          /* a send is in flight */
    CF_DIRTY = 1 << 2,         /* on the core's dirty list */
    CF_STARVED = 1 << 3,       /* waiting for provided buffers to re-arm recv */
    CF_CLOSE_SENT = 1 << 4,    /* WebSocket close frame queued */
    CF_CLOSE_RCVD = 1 << 5,    /* WebSocket close frame received */
    CF_SHUT = 1 << 6,          /* shutdown(SHUT_WR) submitted */
    CF_CANCELLED = 1 << 7,     /* cancel-all submitted */
    CF_REJECT = 1 << 8,        /* accepted over the connection limit: answer 503 and close */
    CF_IS_WS = 1 << 9,         /* upgraded (counted in ws_conns) */
    CF_EOF = 1 << 10,          /* the peer shut down its side */
    CF_MOVED = 1 << 11,        /* lives on in another core: not a close */
    CF_SHUT_BUSY = 1 << 12,    /* the shutdown has not completed: io_uring runs it in a worker and
                                * resolves the slot number there, so the slot must stay ours */
};

struct conn {
    uint32_t gen;
    uint32_t slot;             /* fixed file index in the core's ring */
    uint32_t prev, next;       /* timeout list */
    uint32_t link;             /* dirty list / free list */
    uint32_t stamp;            /* core_stamp() when put on its list (activity, for WS) */
    uint8_t state;             /* enum conn_state */
    uint8_t list;              /* enum conn_list_id */
    uint8_t kind;              /* the application's tag, given to conn_upgrade */
    uint8_t pad;
    uint16_t flags;            /* enum conn_flag */
    uint16_t close_code;       /* what we sent, for statistics */
    struct ws_reader rd;
    struct outq q;
    uint8_t *in;               /* input not yet handled: a partial HTTP request, or what arrived
                                * while moving (handed to the target core) */
    uint32_t in_len, in_cap;
    void *user;                /* the application's state (conn_set_user), NULL if none */
    void *mv;                  /* while CONN_MOVING: the mover's record (handover.c) */
};

/* A connection, named so that it can be found again if it still exists. */
struct conn_ref { uint32_t idx, gen; };

struct conn_core;

/* What the application does with connections (all called on the connection's core). */
struct conn_handler {
    void *arg;
    /* A complete HTTP request on c; the handler answers it (conn_http_respond), upgrades
     * (conn_upgrade) or moves c (handover_start). */
    void (*on_request)(void *arg, struct conn *c, const struct http_request *req);
    /* One complete WebSocket data message (TEXT or BINARY), valid during the call only. */
    void (*on_message)(void *arg, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode);
    /* The server drains: c (WebSocket) is about to be closed with 1001. */
    void (*on_drain)(void *arg, struct conn *c);
    /* c had user state and is gone (closed, or moved to another core): forget it now. */
    void (*on_close)(void *arg, struct conn *c);
};

/* Moving a connection to another core is handover.c's; the connection only stops reading,
 * keeps what arrives, and tells the mover when nothing is in flight any more. */
struct conn_mover {
    void (*quiescent)(struct conn_core *cc, struct conn *c);   /* CONN_MOVING and quiet: pass it on */
    void (*abort)(struct conn *c);                             /* died while moving: free c->mv */
};

/* Process-wide connection accounting, shared by every core (relaxed atomics, touched on accept
 * and close only). */
struct conn_shared {
    _Atomic uint32_t conns;
    uint32_t max_conns;           /* over this, a new connection gets 503 */
};

enum conn_list_id { LIST_NONE, LIST_HTTP, LIST_WS, LIST_PINGED, LIST_CLOSING, LIST_COUNT };
struct conn_list { uint32_t head, tail; };

struct conn_core {
    struct core *co;
    const struct config *cfg;
    struct conn_shared *shared;
    struct conn *conns;           /* the pool: one struct per fixed-file slot, mmap'ed */
    uint32_t conn_cap, free_head, nconns, fresh;   /* fresh: slots [fresh, cap) never used yet */
    struct conn_list lists[LIST_COUNT];
    uint32_t dirty_head;          /* connections with output to send this turn */
    uint32_t *starved;            /* recv ended with ENOBUFS: re-arm next turn */
    uint32_t nstarved, starved_cap;
    struct opool pool;            /* output buffers */
    struct ws_limits ws_lim;
    struct http_limits http_lim;
    bool draining;
    struct conn_handler handler;
    struct conn_mover mover;
};

/* Sets up the pool (co->table_size connections) and registers the transport's completions
 * and hooks on the core. 0 or -errno. */
int conn_core_init(struct conn_core *cc, struct core *co, const struct config *cfg, struct conn_shared *shared,
                   const struct conn_handler *handler);
void conn_set_mover(struct conn_core *cc, const struct conn_mover *m);
/* Registers the transport's turn hooks (send what is queued, re-arm starved receives): after
 * the hooks of whoever queues output during the turn. */
void conn_core_hooks(struct conn_core *cc);
/* The loop is over: one last send of what is queued (bye and close frames). */
void conn_core_finish(struct conn_core *cc);
/* Frees every connection (on_close for those with user state) and the pool. */
void conn_core_free(struct conn_core *cc);

static inline struct conn_ref conn_ref_of(const struct conn_core *cc, const struct conn *c)
{
    return (struct conn_ref){ (uint32_t)(c - cc->conns), c->gen };
}
/* The WebSocket connection ref names, or NULL if it is gone or no longer WebSocket. */
struct conn *conn_deref(struct conn_core *cc, struct conn_ref ref);
/* The same for an HTTP connection (a request answered later: --redis, api.c). */
static inline struct conn *conn_deref_http(struct conn_core *cc, struct conn_ref ref)
{
    struct conn *c = ref.idx < cc->conn_cap ? &cc->conns[ref.idx] : NULL;
    return c && c->gen == ref.gen && c->state == CONN_HTTP ? c : NULL;
}
static inline void *conn_user(const struct conn *c) { return c->user; }
static inline void conn_set_user(struct conn *c, void *user) { c->user = user; }

/* Output. Each returns false if the connection cannot take it (closing, out of memory or
 * over --max-backlog, in which case it is being closed). */
bool conn_send_frame(struct conn_core *cc, struct conn *c, uint8_t opcode, const void *payload, size_t len);
bool conn_send_raw(struct conn_core *cc, struct conn *c, const void *a, size_t alen, const void *b, size_t blen);
/* A frame encoded once for many receivers (refcounted, from cc->pool). */
bool conn_send_shared(struct conn_core *cc, struct conn *c, struct obuf *frame);

/* An HTTP response (head + body; no body for HEAD). keep_alive false closes after it. */
void conn_http_respond(struct conn_core *cc, struct conn *c, const struct http_request *req, int status,
                       const char *content_type, const void *body, size_t len, const char *extra_headers);
/* Answers the WebSocket handshake of req and switches c to WebSocket with the application's
 * tag `kind`, or answers why the handshake is refused. */
void conn_upgrade(struct conn_core *cc, struct conn *c, const struct http_request *req, uint8_t kind);

/* Starts a WebSocket close with `code` (no-op if one was sent already). */
void conn_ws_close(struct conn_core *cc, struct conn *c, uint16_t code, const char *reason);

/* Stops the connection now: no more input or output; resources freed when the kernel is done. */
void conn_kill(struct conn_core *cc, struct conn *c);

/* Input to handle as if just read (parsed in place: data must be writable). */
void conn_feed(struct conn_core *cc, struct conn *c, uint8_t *data, size_t n);
/* A WebSocket message to handle as if just read (a moved connection's first message). */
void conn_deliver(struct conn_core *cc, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode);

/* Moving to another core (handover.c drives these). */
void conn_begin_move(struct conn_core *cc, struct conn *c, void *mv);  /* stop reading, finish sending */
void conn_moved_away(struct conn_core *cc, struct conn *c);            /* source: the target has it */
/* target: a connection for a socket put in fixed-file slot `slot`. It counts in this core's
 * statistics, not in conn_shared.conns: the process counted it when a core accepted it (the
 * source does not uncount a connection it moved). */
struct conn *conn_adopt(struct conn_core *cc, uint32_t slot, uint8_t state, uint8_t kind);
void conn_adopted(struct conn_core *cc, struct conn *c);               /* target: input handled, read on */

#endif
