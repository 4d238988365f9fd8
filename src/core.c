/* core.c: a worker's ring and loop (see core.h).
 *
 * One loop turn: send what connections queued, submit every SQE and wait for at least one
 * completion in a single io_uring_enter, then handle all completions that are there. With
 * IORING_SETUP_DEFER_TASKRUN the kernel runs completion work only inside that enter, on this
 * thread, so a turn processes completions in large batches and never gets interrupted.
 * Accepted sockets go straight into the ring's fixed-file table (multishot accept, direct);
 * they never appear in the fd table, which is what lets one process hold more connections
 * than RLIMIT_NOFILE.
 */
#include "core.h"

#include "conn.h"
#include "handover.h"
#include "log.h"
#include "proto.h"
#include "room.h"
#include "server.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
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
#define TICK_MS 50
#define MAX_JSON_TOKENS 65536 /* per message; more is answered with too-large */

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

struct io_uring_sqe *core_sqe(struct core *co)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&co->ring);
    if (sqe) return sqe;
    int r = io_uring_submit(&co->ring);
    if (r < 0) log_error("io_uring_submit: %s", strerror(-r));
    co->iov_used = co->msg_used = 0;
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

static void arm_accept(struct core *co)
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
    co->tick.tv_nsec = TICK_MS * 1000000L;
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
    co->bufs = mmap(NULL, (size_t)co->nbufs * co->buf_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (co->bufs == MAP_FAILED) return -errno;
    struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)ring_mem, .ring_entries = co->nbufs, .bgid = 0 };
    int r = io_uring_register_buf_ring(&co->ring, &reg, 0);
    if (r) return r;
    co->br = ring_mem;
    io_uring_buf_ring_init(co->br);
    int mask = io_uring_buf_ring_mask(co->nbufs);
    for (uint32_t i = 0; i < co->nbufs; i++)
        io_uring_buf_ring_add(co->br, co->bufs + (size_t)i * co->buf_size, co->buf_size, (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(co->br, (int)co->nbufs);
    return 0;
}

static int core_setup(struct core *co)
{
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
    r = io_uring_register_files_sparse(&co->ring, co->srv->table_size);
    if (r) {
        log_error("registering %u fixed-file slots: %s", co->srv->table_size, strerror(-r));
        return r;
    }
    r = setup_buffers(co);
    if (r) {
        log_error("provided buffer ring: %s", strerror(-r));
        return r;
    }
    co->conn_cap = co->srv->table_size;
    /* Reserved, not committed: pages are touched only as connections use them. */
    co->conns = mmap(NULL, (size_t)co->conn_cap * sizeof(struct conn), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (co->conns == MAP_FAILED) return -errno;
    for (uint32_t i = 0; i < co->conn_cap; i++) co->conns[i].link = i + 1 < co->conn_cap ? i + 1 : CONN_NIL;
    co->free_head = 0;
    for (int l = 0; l < LIST_COUNT; l++) co->lists[l].head = co->lists[l].tail = CONN_NIL;
    co->dirty_head = CONN_NIL;
    co->iov_arena = calloc(IOV_ARENA, sizeof *co->iov_arena);
    co->msg_arena = calloc(MSG_ARENA, sizeof *co->msg_arena);
    if (!co->iov_arena || !co->msg_arena) return -ENOMEM;
    opool_init(&co->pool);
    co->ws_lim = (struct ws_limits){ .max_frame = co->cfg->max_frame, .max_message = co->cfg->max_message,
                                     .peer_masks = true };
    co->http_lim = (struct http_limits){ .max_header_bytes = co->cfg->max_header_bytes,
                                         .max_body_bytes = co->cfg->max_body_bytes };
    co->start_ms = co->now_ms = clock_ms();
    atomic_store(&co->drain_left, UINT32_MAX);
    co->max_toks = MAX_JSON_TOKENS;
    co->toks = calloc((size_t)co->max_toks, sizeof *co->toks);
    jw_init(&co->out, 4096);
    if (!co->toks || co->out.oom || rooms_init(co) || proto_init(co)) return -ENOMEM;
    co->store = store_core_of(co->srv->store, (uint32_t)co->id);
    store_core_attach(co->store, co, room_op_durable);
    return 0;
}

static void core_teardown(struct core *co)
{
    io_uring_queue_exit(&co->ring);
    if (co->bufs && co->bufs != MAP_FAILED) munmap(co->bufs, (size_t)co->nbufs * co->buf_size);
    if (co->br) munmap(co->br, co->nbufs * sizeof(struct io_uring_buf));
    if (co->conns && co->conns != MAP_FAILED) {
        for (uint32_t i = 0; i < co->conn_cap; i++) {
            struct conn *c = &co->conns[i];
            if (c->state == CONN_FREE) continue;
            if (c->session && co->rooms) session_detach(co, c->session);
            if (c->mv) handover_abort(c);
            outq_free(&co->pool, &c->q);
            ws_reader_reset(&c->rd);
            free(c->in);
        }
        munmap(co->conns, (size_t)co->conn_cap * sizeof(struct conn));
    }
    rooms_free(co);
    proto_free(co);
    jw_free(&co->out);
    free(co->toks);
    opool_destroy(&co->pool);
    free(co->iov_arena);
    free(co->msg_arena);
    free(co->starved);
}

static void on_accept(struct core *co, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) co->accept_armed = false;
    if (cqe->res >= 0) {
        conn_on_accept(co, cqe->res);
    } else if (cqe->res == -ENFILE || cqe->res == -EMFILE) {
        /* fixed-file table full: the tick re-arms once connections have closed */
        log_warn("accept: fixed-file table full (%u slots); connection refused", co->srv->table_size);
    } else if (cqe->res != -ECANCELED && cqe->res != -EINVAL) {
        log_warn("accept: %s", strerror(-cqe->res));
    }
}

static void on_tick(struct core *co)
{
    conn_tick(co);
    if (server_draining(co->srv) && !co->draining) {
        co->draining = true;
        conn_drain_all(co);
    }
    if (co->draining) {
        /* Every core keeps answering (503 to /health and upgrades) until no core has a
         * WebSocket left to drain; a core that stopped early would leave its listener's
         * connections hanging. */
        atomic_store_explicit(&co->drain_left, conn_draining_count(co), memory_order_relaxed);
        uint64_t left = 0;
        for (uint32_t i = 0; i < co->srv->ncores; i++)
            left += atomic_load_explicit(&co->srv->cores[i].drain_left, memory_order_relaxed);
        if (left == 0) co->stop = true;
    }
    store_tick(co->store);
    if (atomic_load_explicit(&co->srv->stop_now, memory_order_relaxed)) co->stop = true;
    if (!co->accept_armed && co->nconns < co->conn_cap) arm_accept(co);
}

static void dispatch(struct core *co, struct io_uring_cqe *cqe)
{
    switch (ud_kind_of(cqe->user_data)) {
    case UD_RECV: conn_on_recv(co, cqe); break;
    case UD_SEND: conn_on_send(co, cqe); break;
    case UD_SHUTDOWN: conn_on_shutdown(co, cqe); break;
    case UD_ACCEPT: on_accept(co, cqe); break;
    case UD_TIMER:
        on_tick(co);
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_timer(co);
        break;
    case UD_HANDOVER_IN: handover_on_in(co, cqe); break;
    case UD_HANDOVER_SENT: handover_on_sent(co, cqe); break;
    case UD_STORE: store_on_cqe(co->store, cqe); break;
    case UD_IGNORE:
        break;
    }
}

static void pin_thread(struct core *co)
{
    int cpu = co->srv->cpus[co->id];
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (r) log_warn("pinning to CPU %d: %s", cpu, strerror(r));
}

static void core_loop(struct core *co)
{
    uint64_t busy_from = clock_ns();
    while (!co->stop) {
        uint32_t due_ms = rooms_end_of_turn(co);
        conn_flush_dirty(co);
        conn_rearm_starved(co);
        uint32_t store_due = store_flush(co->store);    /* after the turn's ops were appended */
        if (store_due < due_ms) due_ms = store_due;
        uint64_t wait_from = clock_ns();
        stat_add(&co->stats.busy_ns, wait_from - busy_from);
        int r;
        if (due_ms == UINT32_MAX) {
            r = io_uring_submit_and_wait(&co->ring, 1);
        } else {                             /* a coalesced cursor or an op-log batch is due */
            struct __kernel_timespec ts = { .tv_sec = due_ms / 1000, .tv_nsec = (long)(due_ms % 1000) * 1000000L };
            struct io_uring_cqe *first;
            r = io_uring_submit_and_wait_timeout(&co->ring, &first, 1, &ts, NULL);
        }
        busy_from = clock_ns();
        co->iov_used = co->msg_used = 0;
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EBUSY) {
            log_error("io_uring_submit_and_wait: %s", strerror(-r));
            break;
        }
        co->now_ms = busy_from / 1000000;
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
}

void *core_main(void *arg)
{
    struct core *co = arg;
    log_set_core(co->id);
    pin_thread(co);
    int r = core_setup(co);
    if (r) atomic_store(&co->srv->init_failed, 1);
    pthread_barrier_wait(&co->srv->ready);           /* every ring exists (or one failed) */
    if (!atomic_load(&co->srv->init_failed)) {
        arm_accept(co);
        arm_timer(co);
        core_loop(co);
    }
    /* Flush what the loop left queued (bye/close frames) on a best-effort basis. */
    if (!atomic_load(&co->srv->init_failed)) {
        conn_flush_dirty(co);
        io_uring_submit(&co->ring);
        store_core_finish(co->store);            /* pending records (chat, unacked ops) */
    }
    core_teardown(co);
    atomic_fetch_add(&co->srv->cores_done, 1);
    return NULL;
}
