/* server.h: the process layer: configuration, listeners, worker cores, signals and drain.
 *
 * The server wires the layers together. It builds, once and on the main thread, the core
 * group (loop), one listener per core (SO_REUSEPORT, created here so that a bad --listen
 * fails before any thread), the process-wide connection accounting (transport), the store
 * (recovered before any core runs) and what the application shares (webfiles, the room
 * count). Each worker thread then sets up its core, its transport and its application, in
 * that order, and registers their hooks on the loop in the order a turn needs them. After
 * that the server is read-only except for a few atomics (connection and room counts, the
 * drain flag, the count of cores that have finished).
 */
#ifndef RINGROOM_SERVER_H
#define RINGROOM_SERVER_H

#include "app.h"
#include "config.h"
#include "conn.h"
#include "core.h"

#include <stdint.h>

struct server_worker;

struct server {
    struct config cfg;
    const char *version;
    struct core_group group;       /* group.cores: the loop of each worker */
    struct server_worker *workers;  /* transport and application state of each core */
    struct conn_shared conns;
    struct app_shared app;
    uint32_t table_size;           /* fixed-file slots per ring */
    struct webfiles *web;
    struct store *store;           /* the op log (src/store/store.h): recovered before the cores start */
};

/* What went wrong; main turns it into the process's exit code. */
enum server_result {
    SERVER_OK = 0,
    SERVER_FAILED,                 /* printed why: bad --listen, out of memory, io_uring refused... */
    SERVER_CORRUPT_DATA,           /* the op log is corrupt in the middle of a segment */
};

/* Validates limits against the machine, raises RLIMIT_NOFILE, opens the listeners, loads
 * the web page and recovers the store. Prints why on failure. */
enum server_result server_init(struct server *s, const struct config *cfg, const char *version);

/* Starts the cores, waits for SIGTERM/SIGINT, drains, joins. */
enum server_result server_run(struct server *s);

/* Frees what server_init built, also after a failed or partial init. */
void server_free(struct server *s);

#endif
