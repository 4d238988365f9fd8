/* rl_epoll.c: the epoll engine (see rl_engine.h), kept to compare against io_uring.
 *
 * Non-blocking sockets in the fd table (so at most RLIMIT_NOFILE connections per process),
 * edge-triggered epoll, reads drained into one shared buffer, writes straight from the
 * connection's output buffer. epoll_pwait2 gives the loop nanosecond timeouts like the ring.
 */
#include "rl_engine.h"

#include "rl_conn.h"
#include "rl_run.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (256u << 10)
#define MAX_EVENTS 1024

struct eng {
    int ep;
    uint8_t *buf;
    uint32_t *dead;               /* closed this turn: released at its end */
    uint32_t ndead;
    struct epoll_event ev[MAX_EVENTS];
};

static int e_init(struct rl_run *r)
{
    struct eng *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    r->eng = e;
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    e->buf = malloc(READ_BUF);
    e->dead = calloc(r->nconns ? r->nconns : 1, sizeof *e->dead);
    if (e->ep < 0 || !e->buf || !e->dead) return e->ep < 0 ? -errno : -ENOMEM;
    return 0;
}

static void e_fini(struct rl_run *r)
{
    struct eng *e = r->eng;
    if (!e) return;
    for (uint32_t i = 0; i < r->nconns; i++)
        if (r->conns[i].fd >= 0) {
            close(r->conns[i].fd);
            r->conns[i].fd = -1;
        }
    if (e->ep >= 0) close(e->ep);
    free(e->buf);
    free(e->dead);
    free(e);
    r->eng = NULL;
}

static int e_connect(struct rl_run *r, struct rl_conn *c, const struct sockaddr_in *src)
{
    struct eng *e = r->eng;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (const struct sockaddr *)src, sizeof *src)) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    if (connect(fd, (const struct sockaddr *)&r->dst[c->target], sizeof r->dst[c->target]) && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                              .data.u64 = (uint64_t)c->gen << 32 | c->idx };
    if (epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev)) {
        int err = -errno;
        close(fd);
        return err;
    }
    c->fd = fd;
    c->flags |= RL_CF_CONNECT;
    return 0;
}

static void e_close(struct rl_run *r, struct rl_conn *c)
{
    struct eng *e = r->eng;
    if (c->fd >= 0) {
        close(c->fd);                 /* also leaves the epoll set */
        c->fd = -1;
    }
    if (!(c->flags & RL_CF_CLOSING_FD)) {
        c->flags |= RL_CF_CLOSING_FD;
        e->dead[e->ndead++] = c->idx;
    }
}

static void e_flush(struct rl_run *r, struct rl_conn *c)
{
    if (c->flags & (RL_CF_CONNECT | RL_CF_WANT_OUT) || c->fd < 0) return;
    while (c->out.off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out.off += (uint32_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->flags |= RL_CF_WANT_OUT;           /* EPOLLOUT (edge) tells us when */
            return;
        } else {
            rl_conn_on_eof(r, c, n < 0 ? -errno : -EPIPE);
            return;
        }
    }
    c->out.off = c->out.len = 0;
}

static void on_event(struct rl_run *r, struct eng *e, const struct epoll_event *ev)
{
    uint32_t idx = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
    if (idx >= r->nconns) return;
    struct rl_conn *c = &r->conns[idx];
    if (c->gen != gen || c->fd < 0 || c->state == RL_C_DEAD || c->state == RL_C_FREE) return;
    if (c->flags & RL_CF_CONNECT) {
        if (!(ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len)) err = errno;
        c->flags &= (uint16_t)~RL_CF_CONNECT;
        rl_conn_on_connected(r, c, -err);
        if (c->fd < 0) return;
        e_flush(r, c);
    } else if (ev->events & EPOLLOUT) {
        c->flags &= (uint16_t)~RL_CF_WANT_OUT;
        e_flush(r, c);
    }
    if (c->fd < 0 || !(ev->events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    for (;;) {
        ssize_t n = recv(c->fd, e->buf, READ_BUF, MSG_DONTWAIT);
        if (n > 0) {
            rl_conn_on_data(r, c, e->buf, (size_t)n);
            if (c->fd < 0) return;
            if ((size_t)n < READ_BUF) {
                if (!(ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;   /* drained */
            }
        } else if (n == 0) {
            rl_conn_on_eof(r, c, 0);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            rl_conn_on_eof(r, c, -errno);
            return;
        }
    }
}

static int e_wait(struct rl_run *r, uint64_t timeout_ns)
{
    struct eng *e = r->eng;
    rl_conn_flush_dirty(r);
    struct timespec ts = { .tv_sec = (time_t)(timeout_ns / RL_NS_PER_S), .tv_nsec = (long)(timeout_ns % RL_NS_PER_S) };
    int n = epoll_pwait2(e->ep, e->ev, MAX_EVENTS, &ts, NULL);
    if (n < 0 && errno != EINTR) return -errno;
    for (int i = 0; i < n; i++) on_event(r, e, &e->ev[i]);
    uint32_t nd = e->ndead;
    e->ndead = 0;
    for (uint32_t i = 0; i < nd; i++) {
        struct rl_conn *c = &r->conns[e->dead[i]];
        if (c->state == RL_C_DEAD) rl_conn_released(r, c);
    }
    return 0;
}

const struct rl_engine_ops rl_engine_epoll = {
    .name = "epoll",
    .init = e_init,
    .fini = e_fini,
    .connect = e_connect,
    .flush = e_flush,
    .close = e_close,
    .wait = e_wait,
};
