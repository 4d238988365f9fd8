/* rl_engine.h: the I/O engine interface: sockets in, bytes out, events back to rl_conn.
 *
 * An engine owns the sockets of one run and nothing above them: it opens a TCP connection for
 * a rl_conn, sends the bytes queued in the connection's output buffer (one send in flight,
 * never reordered), delivers received bytes, and reports connect results, end of stream and
 * the moment a connection's socket is gone for good (the rl_conn may then be reused). Two
 * engines exist: io_uring (default: direct descriptors, multishot receive into a provided
 * buffer ring, one io_uring_enter per loop turn) and epoll (non-blocking sockets, for the
 * comparison in docs/ringload.md). Engines call back into rl_conn.h only.
 */
#ifndef RINGLOAD_ENGINE_H
#define RINGLOAD_ENGINE_H

#include <netinet/in.h>
#include <stdint.h>

struct rl_run;
struct rl_conn;

struct rl_engine_ops {
    const char *name;
    /* Sets up for r->nconns connections; r->eng is the engine's own state. Returns 0 or -errno. */
    int (*init)(struct rl_run *r);
    void (*fini)(struct rl_run *r);
    /* Starts a TCP connect to r->dst[c->target] from `src` (NULL: any). Returns 0 or -errno (nothing to
     * undo then). Completion: rl_conn_on_connected(). */
    int (*connect)(struct rl_run *r, struct rl_conn *c, const struct sockaddr_in *src);
    /* c->out holds bytes: send them (now or when the socket allows). */
    void (*flush)(struct rl_run *r, struct rl_conn *c);
    /* Drops the socket (pending I/O is cancelled). rl_conn_released() follows, from wait(). */
    void (*close)(struct rl_run *r, struct rl_conn *c);
    /* Flushes dirty connections, waits up to timeout_ns for events (0: only what is ready),
     * dispatches them. Returns 0 or -errno on a fatal engine error. */
    int (*wait)(struct rl_run *r, uint64_t timeout_ns);
};

extern const struct rl_engine_ops rl_engine_uring;
extern const struct rl_engine_ops rl_engine_epoll;

#endif
