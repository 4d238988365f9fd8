/* rl_uring.c: the io_uring engine (see rl_engine.h).
 *
 * Sockets live in the ring's fixed-file table (slot = connection index), not in the fd table,
 * so one process holds as many connections as the table has slots (up to RLIMIT_NOFILE,
 * 20,000 here, per ring). A socket is made with socket(2) so TCP_NODELAY and the source
 * address can be set (setsockopt on direct descriptors needs newer kernels than we may
 * meet), installed into its slot, and its fd closed at once. Connect, multishot receive
 * (into one provided-buffer ring, registered by hand: liburing 2.3 lacks
 * io_uring_setup_buf_ring), send (one in flight per connection) and close all go through
 * the ring; a loop turn is a single io_uring_enter that submits and waits.
 */
#include "rl_engine.h"

#include "rl_conn.h"
#include "rl_run.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 65536
#define NBUFS 4096                 /* provided receive buffers (power of two) */
#define BUF_SIZE 16384

enum ud_kind { UD_IGNORE, UD_CONNECT, UD_RECV, UD_SEND, UD_CLOSE };

struct eng {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    uint32_t returned;            /* buffers re-added this turn, published at its end */
    uint32_t *starved;            /* connections whose receive ran out of buffers */
    uint32_t nstarved;
    struct __kernel_timespec ts;
    bool buf_registered;
};

static inline uint64_t ud(enum ud_kind k, const struct rl_conn *c)
{
    return (uint64_t)k << 56 | (uint64_t)(c->gen & 0xFFFFFF) << 32 | c->idx;
}
static inline enum ud_kind ud_kind_of(uint64_t u) { return (enum ud_kind)(u >> 56); }
static inline uint32_t ud_gen(uint64_t u) { return (uint32_t)(u >> 32) & 0xFFFFFF; }
static inline uint32_t ud_idx(uint64_t u) { return (uint32_t)u; }

static struct io_uring_sqe *get_sqe(struct eng *e)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);
    while (!sqe) {
        io_uring_submit(&e->ring);
        sqe = io_uring_get_sqe(&e->ring);
    }
    return sqe;
}

static int u_init(struct rl_run *r)
{
    struct eng *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    r->eng = e;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = CQ_ENTRIES;
    int rc = io_uring_queue_init_params(SQ_ENTRIES, &e->ring, &p);
    if (rc) {
        free(e);
        r->eng = NULL;
        return rc;
    }
    io_uring_register_ring_fd(&e->ring);
    rc = io_uring_register_files_sparse(&e->ring, r->nconns ? r->nconns : 1);
    if (rc) return rc;
    size_t ring_bytes = NBUFS * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -errno;
    e->br = mem;
    e->bufs = mmap(NULL, (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (e->bufs == MAP_FAILED) {
        e->bufs = NULL;
        return -errno;
    }
    struct io_uring_buf_reg reg = { .ring_addr = (uintptr_t)mem, .ring_entries = NBUFS, .bgid = 0 };
    rc = io_uring_register_buf_ring(&e->ring, &reg, 0);
    if (rc) return rc;
    e->buf_registered = true;
    io_uring_buf_ring_init(e->br);
    int mask = io_uring_buf_ring_mask(NBUFS);
    for (uint32_t i = 0; i < NBUFS; i++)
        io_uring_buf_ring_add(e->br, e->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(e->br, NBUFS);
    e->starved = calloc(r->nconns ? r->nconns : 1, sizeof *e->starved);
    return e->starved ? 0 : -ENOMEM;
}

static void u_fini(struct rl_run *r)
{
    struct eng *e = r->eng;
    if (!e) return;
    io_uring_queue_exit(&e->ring);
    if (e->bufs) munmap(e->bufs, (size_t)NBUFS * BUF_SIZE);
    if (e->br) munmap(e->br, NBUFS * sizeof(struct io_uring_buf));
    free(e->starved);
    free(e);
    r->eng = NULL;
}

static int u_connect(struct rl_run *r, struct rl_conn *c, const struct sockaddr_in *src)
{
    struct eng *e = r->eng;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        /* the port is chosen at connect time, per destination: more than 28K per address */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)src, sizeof *src)) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    int rc = io_uring_register_files_update(&e->ring, c->idx, &fd, 1);
    close(fd);
    if (rc < 0) return rc;
    if (rc != 1) return -EBADF;
    struct io_uring_sqe *sqe = get_sqe(e);
    io_uring_prep_connect(sqe, (int)c->idx, (const struct sockaddr *)&r->dst[c->target], sizeof r->dst[c->target]);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud(UD_CONNECT, c));
    c->flags |= RL_CF_CONNECT;
    return 0;
}

static void arm_recv(struct eng *e, struct rl_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(e);
    io_uring_prep_recv_multishot(sqe, (int)c->idx, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ud(UD_RECV, c));
    c->flags |= RL_CF_RECV;
}

static void submit_send(struct eng *e, struct rl_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(e);
    io_uring_prep_send(sqe, (int)c->idx, c->fly.p + c->fly.off, c->fly.len - c->fly.off, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud(UD_SEND, c));
    c->flags |= RL_CF_SEND;
}

static void u_flush(struct rl_run *r, struct rl_conn *c)
{
    if (c->flags & (RL_CF_SEND | RL_CF_CONNECT)) return;        /* the completion sends the rest */
    if (c->out.len <= c->out.off) return;
    /* the pending buffer goes to the kernel; the other one collects what comes next */
    struct rl_obuf t = c->fly;
    c->fly = c->out;
    c->out = t;
    c->out.len = c->out.off = 0;
    submit_send(r->eng, c);
}

/* A dead connection's slot is closed once the kernel holds no request on it. */
static void maybe_close(struct eng *e, struct rl_conn *c)
{
    if (c->state != RL_C_DEAD || (c->flags & (RL_CF_RECV | RL_CF_SEND | RL_CF_CONNECT | RL_CF_CLOSING_FD))) return;
    if (c->flags & RL_CF_STARVED) return;       /* still on the starved list: wait */
    struct io_uring_sqe *sqe = get_sqe(e);
    io_uring_prep_close_direct(sqe, c->idx);
    io_uring_sqe_set_data64(sqe, ud(UD_CLOSE, c));
    c->flags |= RL_CF_CLOSING_FD;
}

/* Cancels one in-flight request by its user_data. (Cancelling by file, ASYNC_CANCEL_FD, makes
 * the kernel walk every armed request of the ring: with 13,000 receives armed and the whole
 * run closing at once that was quadratic, seconds of system time; a user_data is a hash
 * lookup.) */
static void cancel(struct eng *e, enum ud_kind k, const struct rl_conn *c)
{
    struct io_uring_sqe *sqe = get_sqe(e);
    io_uring_prep_cancel64(sqe, ud(k, c), 0);
    io_uring_sqe_set_data64(sqe, (uint64_t)UD_IGNORE << 56);
}

static void u_close(struct rl_run *r, struct rl_conn *c)
{
    struct eng *e = r->eng;
    if ((c->flags & (RL_CF_RECV | RL_CF_SEND | RL_CF_CONNECT)) && !(c->flags & RL_CF_CANCELLED)) {
        if (c->flags & RL_CF_RECV) cancel(e, UD_RECV, c);
        if (c->flags & RL_CF_SEND) cancel(e, UD_SEND, c);
        if (c->flags & RL_CF_CONNECT) cancel(e, UD_CONNECT, c);
        c->flags |= RL_CF_CANCELLED;
    }
    maybe_close(e, c);
}

static void on_recv(struct rl_run *r, struct eng *e, struct io_uring_cqe *cqe)
{
    struct rl_conn *c = &r->conns[ud_idx(cqe->user_data)];
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    uint8_t *data = has_buf ? e->bufs + (size_t)bid * BUF_SIZE : NULL;
    if ((c->gen & 0xFFFFFF) == ud_gen(cqe->user_data) && c->state != RL_C_FREE) {
        if (!(cqe->flags & IORING_CQE_F_MORE)) c->flags &= (uint16_t)~RL_CF_RECV;
        int res = cqe->res;
        if (res > 0 && data) {
            rl_conn_on_data(r, c, data, (size_t)res);
        } else if (res == 0) {
            rl_conn_on_eof(r, c, 0);
        } else if (res == -ENOBUFS) {
            if (!(c->flags & RL_CF_STARVED) && c->state != RL_C_DEAD) {
                c->flags |= RL_CF_STARVED;
                e->starved[e->nstarved++] = c->idx;
            }
        } else if (res < 0 && res != -ECANCELED) {
            rl_conn_on_eof(r, c, res);
        }
        if (c->state == RL_C_DEAD) maybe_close(e, c);
        else if (c->state != RL_C_FREE && !(c->flags & (RL_CF_RECV | RL_CF_STARVED)) && res != 0)
            arm_recv(e, c);
    }
    if (has_buf) {
        io_uring_buf_ring_add(e->br, data, BUF_SIZE, bid, io_uring_buf_ring_mask(NBUFS), (int)e->returned);
        e->returned++;
    }
}

static void on_send(struct rl_run *r, struct eng *e, struct io_uring_cqe *cqe)
{
    struct rl_conn *c = &r->conns[ud_idx(cqe->user_data)];
    if ((c->gen & 0xFFFFFF) != ud_gen(cqe->user_data) || c->state == RL_C_FREE) return;
    c->flags &= (uint16_t)~RL_CF_SEND;
    if (c->state == RL_C_DEAD) return maybe_close(e, c);
    if (cqe->res < 0) {
        c->fly.len = c->fly.off = 0;
        rl_conn_on_eof(r, c, cqe->res);
        return maybe_close(e, c);
    }
    c->fly.off += (uint32_t)cqe->res;
    if (c->fly.off < c->fly.len) return submit_send(e, c);      /* short send: the rest */
    c->fly.len = c->fly.off = 0;
    if (c->fly.cap > (256u << 10)) {            /* do not keep a burst's buffer forever */
        free(c->fly.p);
        c->fly = (struct rl_obuf){ 0 };
    }
    if (c->out.len > c->out.off) u_flush(r, c);
}

static void on_connect(struct rl_run *r, struct eng *e, struct io_uring_cqe *cqe)
{
    struct rl_conn *c = &r->conns[ud_idx(cqe->user_data)];
    if ((c->gen & 0xFFFFFF) != ud_gen(cqe->user_data) || c->state == RL_C_FREE) return;
    c->flags &= (uint16_t)~RL_CF_CONNECT;
    if (c->state == RL_C_DEAD) return maybe_close(e, c);
    if (cqe->res < 0) {
        rl_conn_on_connected(r, c, cqe->res);
        return maybe_close(e, c);
    }
    arm_recv(e, c);
    rl_conn_on_connected(r, c, 0);
}

static void on_close(struct rl_run *r, struct io_uring_cqe *cqe)
{
    struct rl_conn *c = &r->conns[ud_idx(cqe->user_data)];
    if ((c->gen & 0xFFFFFF) != ud_gen(cqe->user_data) || c->state != RL_C_DEAD) return;
    rl_conn_released(r, c);
}

static void rearm_starved(struct eng *e, struct rl_run *r)
{
    uint32_t n = e->nstarved;
    e->nstarved = 0;
    for (uint32_t k = 0; k < n; k++) {
        struct rl_conn *c = &r->conns[e->starved[k]];
        c->flags &= (uint16_t)~RL_CF_STARVED;
        if (c->state == RL_C_DEAD) maybe_close(e, c);
        else if (c->state != RL_C_FREE && !(c->flags & RL_CF_RECV)) arm_recv(e, c);
    }
}

/* Waiting: the timeout goes to io_uring_enter (EXT_ARG), so a timer is armed only when the
 * turn really has to sleep. (An IORING_OP_TIMEOUT per deadline was measured no cheaper: on
 * this paravirtual machine arming an hrtimer costs the same either way.) */
static int u_wait(struct rl_run *r, uint64_t timeout_ns)
{
    struct eng *e = r->eng;
    rl_conn_flush_dirty(r);
    rearm_starved(e, r);
    int rc;
    if (timeout_ns == 0) {
        rc = io_uring_submit_and_get_events(&e->ring);
    } else {
        struct io_uring_cqe *cqe;
        e->ts.tv_sec = (long long)(timeout_ns / RL_NS_PER_S);
        e->ts.tv_nsec = (long long)(timeout_ns % RL_NS_PER_S);
        rc = io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, &e->ts, NULL);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) return rc;
    unsigned head, n = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&e->ring, head, cqe) {
        switch (ud_kind_of(cqe->user_data)) {
        case UD_RECV: on_recv(r, e, cqe); break;
        case UD_SEND: on_send(r, e, cqe); break;
        case UD_CONNECT: on_connect(r, e, cqe); break;
        case UD_CLOSE: on_close(r, cqe); break;
        case UD_IGNORE: break;
        }
        n++;
    }
    io_uring_cq_advance(&e->ring, n);
    if (e->returned) {
        io_uring_buf_ring_advance(e->br, (int)e->returned);
        e->returned = 0;
    }
    return 0;
}

const struct rl_engine_ops rl_engine_uring = {
    .name = "io_uring",
    .init = u_init,
    .fini = u_fini,
    .connect = u_connect,
    .flush = u_flush,
    .close = u_close,
    .wait = u_wait,
};
