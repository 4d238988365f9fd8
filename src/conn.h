/* conn.h: a client connection on one core, from accept to close.
 *
 * A connection starts in HTTP (requests, keep-alive, pipelining), may upgrade to WebSocket
 * (/ws or /echo), and ends through CLOSING (output flushed, WebSocket close sent) and LINGER
 * (write side shut down, input drained until EOF) or straight to DEAD (peer gone, timeout,
 * teardown). A DEAD connection waits until its recv, send and shutdown have completed, then
 * its fixed file slot is closed and the struct goes back to the core's pool (generation bumped so late
 * completions are recognised and ignored). The connection owns its parser state, its
 * carried-over input and its output queue; rooms refer to it by pointer while it lives.
 */
#ifndef RINGROOM_CONN_H
#define RINGROOM_CONN_H

#include "core.h"
#include "http.h"
#include "outq.h"
#include "ws.h"

struct session;
struct handover;

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
    uint8_t route;             /* enum http_route after upgrade: ROUTE_WS or ROUTE_ECHO */
    uint8_t pad;
    uint16_t flags;            /* enum conn_flag */
    uint16_t close_code;       /* what we sent, for statistics */
    struct ws_reader rd;
    struct outq q;
    uint8_t *in;               /* input not yet consumed (a partial HTTP request) */
    uint32_t in_len, in_cap;
    struct session *session;   /* protocol state on /ws (room.h), created by the first message */
    struct handover *mv;       /* while CONN_MOVING */
};

/* Completions, dispatched by the core. */
void conn_on_accept(struct core *co, int32_t res);
void conn_on_recv(struct core *co, struct io_uring_cqe *cqe);
void conn_on_send(struct core *co, struct io_uring_cqe *cqe);
void conn_on_shutdown(struct core *co, struct io_uring_cqe *cqe);

/* Once per loop turn: one send for every connection with queued output. */
void conn_flush_dirty(struct core *co);
/* Re-arms recv on connections that ran out of provided buffers. */
void conn_rearm_starved(struct core *co);
/* Timer tick: handshake, idle, ping and linger deadlines. */
void conn_tick(struct core *co);
/* SIGTERM: tell every WebSocket client we are going (close 1001). */
void conn_drain_all(struct core *co);
/* Connections that keep a drain going (WebSocket and closing ones). */
uint32_t conn_draining_count(const struct core *co);

/* Output. Each returns false if the connection cannot take it (closing, out of memory or
 * over --max-backlog, in which case it is being closed). */
bool conn_send_frame(struct core *co, struct conn *c, uint8_t opcode, const void *payload, size_t len);
bool conn_send_raw(struct core *co, struct conn *c, const void *a, size_t alen, const void *b, size_t blen);
bool conn_send_shared(struct core *co, struct conn *c, struct obuf *frame);

/* An HTTP response (head + body; no body for HEAD). keep_alive false closes after it. */
void conn_http_respond(struct core *co, struct conn *c, const struct http_request *req, int status,
                       const char *content_type, const void *body, size_t len, const char *extra_headers);

/* Starts a WebSocket close with `code` (no-op if one was sent already). */
void conn_ws_close(struct core *co, struct conn *c, uint16_t code, const char *reason);

/* Stops the connection now: no more input or output; resources freed when the kernel is done. */
void conn_kill(struct core *co, struct conn *c);

/* Input to handle as if just read (parsed in place: data must be writable). */
void conn_feed(struct core *co, struct conn *c, uint8_t *data, size_t n);

/* Moving to another core (handover.c drives these). */
void conn_begin_move(struct core *co, struct conn *c);       /* stop reading, finish sending */
bool conn_quiescent(const struct conn *c);                   /* nothing in flight or queued */
void conn_moved_away(struct core *co, struct conn *c);       /* source: the target has it */
struct conn *conn_adopt(struct core *co, uint32_t slot, uint8_t state, uint8_t route); /* target */
void conn_adopted(struct core *co, struct conn *c);          /* target: input handled, read on */

/* Index into stats.closes_by_code for a close code (0 = other). */
int conn_close_index(uint16_t code);
extern const uint16_t conn_close_codes[CLOSE_CODE_SLOTS];

#endif
