/* server.h: the process: configuration, listeners, worker cores, signals and drain.
 *
 * The server is built once by the main thread and is read-only afterwards, except for a few
 * atomics: the process-wide connection count (touched on accept and close only, never per
 * message), the drain flag, and the count of cores that have finished. Each core gets its
 * own SO_REUSEPORT listener, created here so that a bad --listen fails before any thread.
 */
#ifndef RINGROOM_SERVER_H
#define RINGROOM_SERVER_H

#include "config.h"
#include "core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct webfiles;
struct store;

struct server {
    struct config cfg;
    const char *version;
    uint32_t ncores;
    struct core *cores;
    int *cpus;                    /* CPU for each core (from the process affinity mask) */
    uint32_t table_size;          /* fixed-file slots per ring */
    uint32_t max_conns;           /* effective limit */
    pthread_barrier_t ready;
    _Atomic uint32_t conns;
    _Atomic uint32_t rooms;       /* rooms in memory, for --max-rooms (touched on create/free only) */
    _Atomic bool draining;
    _Atomic bool stop_now;        /* drain deadline passed: cores stop at their next tick */
    _Atomic uint32_t cores_done;
    _Atomic int init_failed;
    uint64_t start_ms;            /* clock_ms() at start */
    uint64_t start_unix;          /* seconds since the epoch at start */
    struct webfiles *web;
    struct store *store;          /* the op log (src/store/store.h): recovered before the cores start */
};

/* Validates limits against the machine, raises RLIMIT_NOFILE, opens the listeners and loads
 * the web page. Returns 0, or prints why and returns an exit code. */
int server_init(struct server *s, const struct config *cfg, const char *version);

/* Starts the cores, waits for SIGTERM/SIGINT, drains, joins. Returns the exit code. */
int server_run(struct server *s);

void server_free(struct server *s);

static inline bool server_draining(const struct server *s)
{
    return atomic_load_explicit(&s->draining, memory_order_relaxed);
}

#endif
