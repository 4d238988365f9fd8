/* core.h: one worker = one thread, one io_uring, one listener, its connections and rooms.
 *
 * A core owns everything it touches on the message path: the ring, the provided-buffer ring
 * that all its connections receive into, the connection pool, the output buffer pool, the
 * timeout lists and its statistics. Nothing here is shared with other cores except the
 * statistics (written by the owner only, read by anyone with relaxed atomics) and the ring
 * fd (for IORING_OP_MSG_RING). Each CQE's user_data says what completed (ud_kind) and for
 * whom (a connection index and generation, or a pointer).
 */
#ifndef RINGROOM_CORE_H
#define RINGROOM_CORE_H

#include "config.h"
#include "http.h"
#include "json.h"
#include "outq.h"
#include "stats.h"
#include "ws.h"

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)     /* Linux 6.4; liburing 2.3 predates it */
#endif

struct server;
struct conn;
struct store_core;

enum ud_kind {
    UD_IGNORE = 0,       /* completions nobody waits for (close, cancel) */
    UD_ACCEPT,
    UD_RECV,
    UD_SEND,
    UD_SHUTDOWN,         /* a connection's shutdown(SHUT_WR) completed */
    UD_TIMER,
    UD_HANDOVER_IN,      /* another core passed us a connection: payload is a struct handover * */
    UD_HANDOVER_SENT,    /* our MSG_RING passing a connection completed: payload is the conn */
    UD_STORE,            /* the op log's write, fdatasync, segment unlinks (src/store/store.h) */
};

static inline uint64_t ud_make(enum ud_kind kind, uint64_t payload)
{
    return (uint64_t)kind << 56 | (payload & 0x00FFFFFFFFFFFFFFull);
}
static inline uint64_t ud_conn(enum ud_kind kind, uint32_t idx, uint32_t gen)
{
    return ud_make(kind, (uint64_t)(idx & 0xFFFFFF) << 32 | gen);
}
static inline enum ud_kind ud_kind_of(uint64_t ud) { return (enum ud_kind)(ud >> 56); }
static inline uint32_t ud_idx(uint64_t ud) { return (uint32_t)(ud >> 32) & 0xFFFFFF; }
static inline uint32_t ud_gen(uint64_t ud) { return (uint32_t)ud; }
static inline uint64_t ud_payload(uint64_t ud) { return ud & 0x00FFFFFFFFFFFFFFull; }
static inline void *ud_ptr(uint64_t ud) { return (void *)(uintptr_t)ud_payload(ud); }

enum conn_list_id { LIST_NONE, LIST_HTTP, LIST_WS, LIST_PINGED, LIST_CLOSING, LIST_COUNT };

struct conn_list { uint32_t head, tail; };

struct core {
    int id;
    struct server *srv;
    const struct config *cfg;
    struct io_uring ring;
    int ring_fd;                     /* for MSG_RING from other cores */
    int listen_fd;
    bool accept_armed;

    /* provided buffers: one ring shared by every connection of this core */
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    uint32_t nbufs, buf_size;
    uint32_t bufs_returned;          /* re-added this turn, published at the end of it */

    /* connections */
    struct conn *conns;
    uint32_t conn_cap, free_head, nconns;
    struct conn_list lists[LIST_COUNT];
    uint32_t dirty_head;             /* connections with output to send this turn */
    uint32_t *starved;               /* recv ended with ENOBUFS: re-arm next turn */
    uint32_t nstarved, starved_cap;

    /* output */
    struct opool pool;
    struct iovec *iov_arena;         /* sendmsg iovecs, valid until the next submit */
    struct msghdr *msg_arena;
    uint32_t iov_used, msg_used;

    /* time */
    uint64_t start_ms, now_ms;
    struct __kernel_timespec tick;

    /* limits, from the config, in the form the parsers take */
    struct ws_limits ws_lim;
    struct http_limits http_lim;

    /* rooms owned by this core, and scratch space for the protocol (room.h, proto.h) */
    struct rooms *rooms;
    struct store_core *store;        /* this core's op log writer and stored rooms */
    struct proto_ctx *proto;
    struct jw out;                   /* JSON being encoded */
    jsmntok_t *toks;                 /* JSON tokens of the message being handled */
    int max_toks;

    /* lifecycle */
    _Atomic uint32_t drain_left;     /* connections still draining; UINT32_MAX before the drain */
    bool draining;
    bool stop;

    struct core_stats stats;
};

/* Time since the core started, in ms, as a 32-bit stamp (wraps after 49 days; only
 * differences are used). */
static inline uint32_t core_stamp(const struct core *co) { return (uint32_t)(co->now_ms - co->start_ms); }

/* An SQE, submitting first if the SQ is full. Never NULL (aborts if the kernel refuses). */
struct io_uring_sqe *core_sqe(struct core *co);

/* Reserves iovecs / a msghdr valid until the next submit, or NULL if this turn used them up. */
struct iovec *core_iov(struct core *co, uint32_t n);
struct msghdr *core_msghdr(struct core *co);

/* The thread body: sets up the ring, waits for its siblings, runs until stopped. */
void *core_main(void *arg);

/* Wall-clock-independent time (CLOCK_MONOTONIC). */
uint64_t clock_ms(void);
uint64_t clock_ns(void);

/* Milliseconds since the Unix epoch (for timestamps clients see). */
uint64_t clock_unix_ms(void);

#endif
