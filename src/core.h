/* core.h: the loop layer: one worker = one thread, one io_uring, its timers and buffers.
 *
 * A core owns its ring, the provided-buffer ring that every socket of the core receives into,
 * the iovec/msghdr arenas that sends borrow until the next submit, its clock and its
 * statistics. It knows nothing of connections, rooms or the protocol: the layers above
 * register what they want called (core_on_cqe for a kind of completion, core_on_turn once per
 * loop turn before the ring is entered, core_on_tick every TICK_MS), and the loop calls them
 * in the order they were registered. Each SQE's user_data says what completed (ud_kind) and
 * for whom (a connection index and generation, or a pointer).
 *
 * Nothing here is shared with other cores except the statistics (written by the owner only,
 * read by anyone with relaxed loads), the ring fd (for IORING_OP_MSG_RING) and the group's
 * lifecycle atomics (struct core_group). Every function runs on the core's own thread unless
 * it says otherwise.
 */
#ifndef RINGROOM_CORE_H
#define RINGROOM_CORE_H

#include "stats.h"

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)     /* Linux 6.4; liburing 2.3 predates it */
#endif

/* What a completion is about. The loop handles UD_TIMER itself; the others are dispatched to
 * whoever registered the kind (the transport: accept, recv, send, shutdown, handover; the
 * store: UD_STORE). */
enum ud_kind {
    UD_IGNORE = 0,       /* completions nobody waits for (close, cancel) */
    UD_ACCEPT,
    UD_RECV,
    UD_SEND,
    UD_SHUTDOWN,         /* a connection's shutdown(SHUT_WR) completed */
    UD_TIMER,
    UD_HANDOVER_IN,      /* another core passed us a connection: payload is a pointer */
    UD_HANDOVER_SENT,    /* our MSG_RING passing a connection completed: payload is the conn */
    UD_STORE,            /* the op log's write, fdatasync, segment unlinks (src/store/store.h) */
    UD_REDIS,            /* a poll of a Redis link's socket: link index and generation (cluster/link.h) */
    UD_KINDS
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

typedef void (*core_cqe_fn)(void *arg, struct io_uring_cqe *cqe);
/* Returns the milliseconds until it wants the loop to wake up again (UINT32_MAX: no wish). */
typedef uint32_t (*core_turn_fn)(void *arg);
typedef void (*core_tick_fn)(void *arg);

#define CORE_MAX_HOOKS 8

/* The cores of the process, built by the process layer before the threads start. The
 * atomics are the only state cores share: the ready barrier, a setup failure, the drain
 * (set by the process on SIGTERM), the stop deadline and how many cores have finished. */
struct core_group {
    uint32_t ncores;
    struct core *cores;
    pthread_barrier_t ready;
    _Atomic int init_failed;
    _Atomic bool draining;           /* stop taking work; cores stop once none is busy */
    _Atomic bool stop_now;           /* drain deadline passed: cores stop at their next tick */
    _Atomic uint32_t cores_done;
};

struct core {
    int id;
    struct core_group *group;
    struct io_uring ring;
    int ring_fd;                     /* for MSG_RING from other cores */
    int listen_fd;                   /* multishot direct accept; -1: none */
    uint32_t table_size;             /* fixed-file slots of the ring */
    int cpu;                         /* pinned to it; -1: not pinned */
    bool accept_armed;

    /* provided buffers: one ring shared by every socket of this core */
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    uint32_t nbufs, buf_size;
    uint32_t bufs_returned;          /* re-added this turn, published at the end of it */

    /* sendmsg arenas, valid until the next submit */
    struct iovec *iov_arena;
    struct msghdr *msg_arena;
    uint32_t iov_used, msg_used;

    /* time */
    uint64_t start_ms, now_ms;
    struct __kernel_timespec tick;

    /* what the layers above registered */
    struct { core_cqe_fn fn; void *arg; } on_cqe[UD_KINDS];
    struct { core_turn_fn fn; void *arg; } on_turn[CORE_MAX_HOOKS];
    struct { core_tick_fn fn; void *arg; } on_tick[CORE_MAX_HOOKS];
    uint32_t nturn, ntick;

    /* lifecycle */
    _Atomic uint32_t busy;           /* work that keeps a drain going; UINT32_MAX before it */
    bool stop;

    struct core_stats stats;
};

#define CORE_TICK_MS 50

/* Sets up the ring (table_size fixed-file slots), the provided buffers and the arenas, on the
 * core's own thread (SINGLE_ISSUER). Pins the thread to co->cpu first. 0 or -errno (logged). */
int core_init(struct core *co);
/* Registers fn for completions of `kind`, a turn hook or a tick hook (at most CORE_MAX_HOOKS
 * each; called in registration order). */
void core_on_cqe(struct core *co, enum ud_kind kind, core_cqe_fn fn, void *arg);
void core_on_turn(struct core *co, core_turn_fn fn, void *arg);
void core_on_tick(struct core *co, core_tick_fn fn, void *arg);
/* Runs turns until core_stop, the group's drain is over (no core busy) or stop_now. */
void core_run(struct core *co);
/* One turn without the timer or the accept (tests drive a core with it): waits at most
 * wait_ms for a completion. */
void core_turn(struct core *co, uint32_t wait_ms);
/* Stops the loop after the current turn. */
static inline void core_stop(struct core *co) { co->stop = true; }
/* Work that keeps the group's drain going on this core (connections still closing...). */
static inline void core_set_busy(struct core *co, uint32_t n)
{
    atomic_store_explicit(&co->busy, n, memory_order_relaxed);
}
static inline bool core_draining(const struct core *co)
{
    return atomic_load_explicit(&co->group->draining, memory_order_relaxed);
}
/* Frees the ring and the buffers. */
void core_free(struct core *co);

/* Arms the multishot direct accept on the listener if it is not armed. */
void core_arm_accept(struct core *co);

/* An SQE, submitting first if the SQ is full. Never NULL (aborts if the kernel refuses). */
struct io_uring_sqe *core_sqe(struct core *co);
/* Submits what is queued now (the arenas start over). */
void core_submit(struct core *co);

/* Reserves iovecs / a msghdr valid until the next submit, or NULL if this turn used them up. */
struct iovec *core_iov(struct core *co, uint32_t n);
struct msghdr *core_msghdr(struct core *co);

/* A provided buffer named by a recv completion, and giving it back (published at turn end). */
static inline uint8_t *core_buf(const struct core *co, uint16_t bid)
{
    return co->bufs + (size_t)bid * co->buf_size;
}
static inline void core_buf_return(struct core *co, uint16_t bid)
{
    io_uring_buf_ring_add(co->br, core_buf(co, bid), co->buf_size, bid, io_uring_buf_ring_mask(co->nbufs),
                          (int)co->bufs_returned);
    co->bufs_returned++;
}

/* Time since the core started, in ms, as a 32-bit stamp (wraps after 49 days; only
 * differences are used). */
static inline uint32_t core_stamp(const struct core *co) { return (uint32_t)(co->now_ms - co->start_ms); }

/* Wall-clock-independent time (CLOCK_MONOTONIC). */
uint64_t clock_ms(void);
uint64_t clock_ns(void);

/* Milliseconds since the Unix epoch (for timestamps clients see). */
uint64_t clock_unix_ms(void);

#endif
