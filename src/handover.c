/* handover.c: moving a connection between cores (see handover.h). */
#include "handover.h"

#include "conn.h"
#include "log.h"
#include "proto.h"
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct handover {
    uint32_t to;
    uint8_t state;             /* CONN_HTTP or CONN_WS on arrival */
    uint8_t route;
    bool sent;                 /* MSG_RING submitted */
    uint8_t *first;            /* a WebSocket message to handle first */
    size_t first_len;
    uint8_t *input;            /* unread input, in order */
    size_t input_len, input_cap;
};

static void handover_free(struct handover *h)
{
    if (!h) return;
    free(h->first);
    free(h->input);
    free(h);
}

int handover_start(struct core *co, struct conn *c, uint32_t to, const uint8_t *first, size_t first_len)
{
    struct handover *h = calloc(1, sizeof *h);
    if (!h) return -1;
    if (first) {
        h->first = malloc(first_len ? first_len : 1);
        if (!h->first) {
            free(h);
            return -1;
        }
        memcpy(h->first, first, first_len);
        h->first_len = first_len;
    }
    h->to = to;
    h->state = c->state;
    h->route = c->route;
    c->mv = h;
    conn_begin_move(co, c);
    return 0;
}

bool handover_keep(struct conn *c, const uint8_t *data, size_t n)
{
    struct handover *h = c->mv;
    if (n == 0) return true;
    if (h->input_len + n > h->input_cap) {
        size_t cap = h->input_cap ? h->input_cap : 4096;
        while (cap < h->input_len + n) cap *= 2;
        uint8_t *p = realloc(h->input, cap);
        if (!p) return false;
        h->input = p;
        h->input_cap = cap;
    }
    memcpy(h->input + h->input_len, data, n);
    h->input_len += n;
    return true;
}

void handover_abort(struct conn *c)
{
    struct handover *h = c->mv;
    c->mv = NULL;
    if (h && !h->sent) handover_free(h);
    /* once sent, the target owns h (it frees it whether or not the fd arrived) */
}

void handover_try(struct core *co, struct conn *c)
{
    struct handover *h = c->mv;
    if (!h || h->sent || c->state != CONN_MOVING || !conn_quiescent(c)) return;
    struct core *target = &co->srv->cores[h->to];
    struct io_uring_sqe *sqe = core_sqe(co);
    /* liburing 2.3 has no io_uring_prep_msg_ring_fd: fill the SQE as the kernel reads it. */
    io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target->ring_fd, NULL, 0, 0);
    sqe->addr = IORING_MSG_SEND_FD;
    sqe->addr3 = c->slot;                          /* our fixed-file slot */
    sqe->file_index = IORING_FILE_INDEX_ALLOC;     /* any free slot of the target */
    sqe->off = ud_make(UD_HANDOVER_IN, (uint64_t)(uintptr_t)h);   /* the target's CQE user_data */
    io_uring_sqe_set_data64(sqe, ud_conn(UD_HANDOVER_SENT, (uint32_t)(c - co->conns), c->gen));
    h->sent = true;
}

void handover_on_sent(struct core *co, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    struct conn *c = &co->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    if (cqe->res < 0) {
        /* The target posts nothing when the file could not be installed: the handover is
         * still ours. The connection is closed (its input was already taken from it). */
        struct handover *h = c->mv;
        log_warn("handing a connection to core %u failed: %s", h ? h->to : 0, strerror(-cqe->res));
        stat_add(&co->stats.handovers_failed, 1);
        c->mv = NULL;
        handover_free(h);
        conn_kill(co, c);
        return;
    }
    stat_add(&co->stats.handovers_ok, 1);
    c->mv = NULL;
    conn_moved_away(co, c);
}

void handover_on_in(struct core *co, struct io_uring_cqe *cqe)
{
    struct handover *h = ud_ptr(cqe->user_data);
    if (cqe->res < 0) {
        handover_free(h);
        return;
    }
    struct conn *c = conn_adopt(co, (uint32_t)cqe->res, h->state, h->route);
    if (!c) {
        handover_free(h);
        return;
    }
    if (h->first) proto_on_message(co, c, h->first, h->first_len, WS_OP_TEXT);
    if (h->input_len) conn_feed(co, c, h->input, h->input_len);
    handover_free(h);
    conn_adopted(co, c);
}
