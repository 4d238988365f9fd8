/* core.c: a worker's ring and loop (see core.h).
 *
 * One loop turn: the turn hooks queue what they have (rooms end their turn, connections send
 * what they queued, the op log starts a write), then one io_uring_enter submits every SQE and
 * waits for at least one completion, then every completion that is there is dispatched by
 * its kind. With IORING_SETUP_DEFER_TASKRUN the kernel runs completion work only inside that
 * enter, on this thread, so a turn processes completions in large batches and never gets
 * interrupted. Accepted sockets go straight into the ring's fixed-file table (multishot
 * accept, direct); they never appear in the fd table, which is what lets one process hold
 * more connections than RLIMIT_NOFILE.
 */
#include "core.h"

#include "log.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 32768
#define RECV_BUFS 1024        /* provided buffers per core (power of two) */
#define RECV_BUF_SIZE 16384
#define IOV_ARENA 8192
#define MSG_ARENA 1024

uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void core_submit(struct core *co)
{
    int r = io_uring_submit(&co->ring);
    if (r < 0) log_error("io_uring_submit: %s", strerror(-r));
    co->iov_used = co->msg_used = 0;
}

struct io_uring_sqe *core_sqe(struct core *co)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&co->ring);
    if (sqe) return sqe;
    core_submit(co);
    sqe = io_uring_get_sqe(&co->ring);
    if (!sqe) {
        log_error("no SQE available after submit; aborting");
        abort();
    }
    return sqe;
}

struct iovec *core_iov(struct core *co, uint32_t n)
{
    if (co->iov_used + n > IOV_ARENA) return NULL;
    struct iovec *v = co->iov_arena + co->iov_used;
    co->iov_used += n;
    return v;
}

struct msghdr *core_msghdr(struct core *co)
{
    if (co->msg_used >= MSG_ARENA) return NULL;
    return &co->msg_arena[co->msg_used++];
}

void core_arm_accept(struct core *co)
{
    if (co->accept_armed || co->listen_fd < 0) return;
    struct io_uring_sqe *sqe = core_sqe(co);
    io_uring_prep_multishot_accept_direct(sqe, co->listen_fd, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, ud_make(UD_ACCEPT, 0));
    co->accept_armed = true;
}

static void arm_timer(struct core *co)
{
    co->tick.tv_sec = 0;
    co->tick.tv_nsec = CORE_TICK_MS * 1000000L;
    struct io_uring_sqe *sqe = core_sqe(co);
    io_uring_prep_timeout(sqe, &co->tick, 0, IORING_TIMEOUT_MULTISHOT);
    io_uring_sqe_set_data64(sqe, ud_make(UD_TIMER, 0));
}

/* Provided buffers, registered by hand: liburing 2.3 has no io_uring_setup_buf_ring. */
static int setup_buffers(struct core *co)
{
    co->nbufs = RECV_BUFS;
    co->buf_size = RECV_BUF_SIZE;
    size_t ring_bytes = co->nbufs * sizeof(struct io_uring_buf);
    void *ring_mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring_mem == MAP_FAILED) return -errno;
    co->br = ring_mem;
    co->bufs = mmap(NULL, (size_t)co->nbufs * co->buf_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (co->bufs == MAP_FAILED) {
        co->bufs = NULL;
        return -errno;
    }
    struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)ring_mem, .ring_entries = co->nbufs, .bgid = 0 };
    int r = io_uring_register_buf_ring(&co->ring, &reg, 0);
    if (r) return r;
    io_uring_buf_ring_init(co->br);
    int mask = io_uring_buf_ring_mask(co->nbufs);
    for (uint32_t i = 0; i < co->nbufs; i++)
        io_uring_buf_ring_add(co->br, co->bufs + (size_t)i * co->buf_size, co->buf_size, (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(co->br, (int)co->nbufs);
    return 0;
}

static void pin_thread(struct core *co)
{
    if (co->cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(co->cpu, &set);
    int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (r) log_warn("pinning to CPU %d: %s", co->cpu, strerror(r));
}

int core_init(struct core *co)
{
    log_set_core(co->id);
    pin_thread(co);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = CQ_ENTRIES;
    int r = io_uring_queue_init_params(SQ_ENTRIES, &co->ring, &p);
    if (r) {
        log_error("io_uring_queue_init: %s (io_uring disabled by seccomp or sysctl?)", strerror(-r));
        return r;
    }
    co->ring_fd = co->ring.ring_fd;
    io_uring_register_ring_fd(&co->ring);     /* saves an fd lookup per enter; optional */
    r = io_uring_register_files_sparse(&co->ring, co->table_size);
    if (r) {
        log_error("registering %u fixed-file slots: %s", co->table_size, strerror(-r));
        return r;
    }
    r = setup_buffers(co);
    if (r) {
        log_error("provided buffer ring: %s", strerror(-r));
        return r;
    }
    co->iov_arena = calloc(IOV_ARENA, sizeof *co->iov_arena);
    co->msg_arena = calloc(MSG_ARENA, sizeof *co->msg_arena);
    if (!co->iov_arena || !co->msg_arena) {
        log_error("out of memory setting up core %d", co->id);
        return -ENOMEM;
    }
    co->start_ms = co->now_ms = clock_ms();
    atomic_store(&co->busy, UINT32_MAX);
    return 0;
}

void core_free(struct core *co)
{
    if (co->ring_fd > 0) io_uring_queue_exit(&co->ring);
    if (co->bufs) munmap(co->bufs, (size_t)co->nbufs * co->buf_size);
    if (co->br) munmap(co->br, co->nbufs * sizeof(struct io_uring_buf));
    free(co->iov_arena);
    free(co->msg_arena);
    co->bufs = NULL;
    co->br = NULL;
    co->iov_arena = NULL;
    co->msg_arena = NULL;
}

void core_on_cqe(struct core *co, enum ud_kind kind, core_cqe_fn fn, void *arg)
{
    co->on_cqe[kind].fn = fn;
    co->on_cqe[kind].arg = arg;
}

void core_on_turn(struct core *co, core_turn_fn fn, void *arg)
{
    if (co->nturn == CORE_MAX_HOOKS) abort();   /* a wiring bug, found at the first start */
    co->on_turn[co->nturn].fn = fn;
    co->on_turn[co->nturn++].arg = arg;
}

void core_on_tick(struct core *co, core_tick_fn fn, void *arg)
{
    if (co->ntick == CORE_MAX_HOOKS) abort();
    co->on_tick[co->ntick].fn = fn;
    co->on_tick[co->ntick++].arg = arg;
}

static void on_accept(struct core *co, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) co->accept_armed = false;
    if (cqe->res >= 0) {
        if (co->on_cqe[UD_ACCEPT].fn) co->on_cqe[UD_ACCEPT].fn(co->on_cqe[UD_ACCEPT].arg, cqe);
    } else if (cqe->res == -ENFILE || cqe->res == -EMFILE) {
        /* fixed-file table full: a tick hook re-arms once connections have closed */
        log_warn("accept: fixed-file table full (%u slots); connection refused", co->table_size);
    } else if (cqe->res != -ECANCELED && cqe->res != -EINVAL) {
        log_warn("accept: %s", strerror(-cqe->res));
    }
}

static void on_tick(struct core *co)
{
    for (uint32_t i = 0; i < co->ntick; i++) co->on_tick[i].fn(co->on_tick[i].arg);
    struct core_group *g = co->group;
    if (core_draining(co)) {
        /* Every core keeps answering (503 to /health and upgrades) until no core has work
         * left to drain; a core that stopped early would leave its listener's connections
         * hanging. */
        uint64_t left = 0;
        for (uint32_t i = 0; i < g->ncores; i++)
            left += atomic_load_explicit(&g->cores[i].busy, memory_order_relaxed);
        if (left == 0) co->stop = true;
    }
    if (atomic_load_explicit(&g->stop_now, memory_order_relaxed)) co->stop = true;
}

static void dispatch(struct core *co, struct io_uring_cqe *cqe)
{
    enum ud_kind kind = ud_kind_of(cqe->user_data);
    switch (kind) {
    case UD_ACCEPT: on_accept(co, cqe); break;
    case UD_TIMER:
        on_tick(co);
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_timer(co);
        break;
    case UD_IGNORE:
        break;
    default:
        if (kind < UD_KINDS && co->on_cqe[kind].fn) co->on_cqe[kind].fn(co->on_cqe[kind].arg, cqe);
        break;
    }
}

/* One turn: the turn hooks, one enter that submits and waits (for at least one completion,
 * at most until the earliest wake-up a hook asked for, or wait_ms), then every completion. */
static void turn(struct core *co, uint32_t wait_ms, uint64_t *busy_from)
{
    uint32_t due_ms = wait_ms;
    for (uint32_t i = 0; i < co->nturn; i++) {
        uint32_t due = co->on_turn[i].fn(co->on_turn[i].arg);
        if (due < due_ms) due_ms = due;
    }
    uint64_t wait_from = clock_ns();
    stat_add(&co->stats.busy_ns, wait_from - *busy_from);
    int r;
    if (due_ms == UINT32_MAX) {
        r = io_uring_submit_and_wait(&co->ring, 1);
    } else {                             /* a coalesced cursor or an op-log batch is due */
        struct __kernel_timespec ts = { .tv_sec = due_ms / 1000, .tv_nsec = (long)(due_ms % 1000) * 1000000L };
        struct io_uring_cqe *first;
        r = io_uring_submit_and_wait_timeout(&co->ring, &first, 1, &ts, NULL);
    }
    *busy_from = clock_ns();
    co->iov_used = co->msg_used = 0;
    if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) {
        log_error("io_uring_submit_and_wait: %s", strerror(-r));
        co->stop = true;
        return;
    }
    co->now_ms = *busy_from / 1000000;
    stat_add(&co->stats.loop_turns, 1);
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&co->ring, head, cqe) {
        dispatch(co, cqe);
        n++;
    }
    io_uring_cq_advance(&co->ring, n);
    if (co->bufs_returned) {
        io_uring_buf_ring_advance(co->br, (int)co->bufs_returned);
        co->bufs_returned = 0;
    }
}

void core_run(struct core *co)
{
    core_arm_accept(co);
    arm_timer(co);
    uint64_t busy_from = clock_ns();
    while (!co->stop) turn(co, UINT32_MAX, &busy_from);
}

void core_turn(struct core *co, uint32_t wait_ms)
{
    uint64_t busy_from = clock_ns();
    turn(co, wait_ms, &busy_from);
}
