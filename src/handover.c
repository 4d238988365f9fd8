/* handover.c: moving a connection between cores (see handover.h).
 *
 * conn.c keeps a moving connection quiet (no recv, queued output flushed) and keeps what
 * arrives in its input; it calls mover.quiescent when nothing is in flight any more, and
 * mover.abort if the connection dies first. Everything else about the move is here. */
#include "handover.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct handover {
    uint32_t to;
    uint8_t state;             /* CONN_HTTP or CONN_WS on arrival */
    uint8_t kind;
    bool sent;                 /* MSG_RING submitted */
    uint8_t *first;            /* a WebSocket message to handle first */
    size_t first_len;
    uint8_t *input;            /* unread input, in order */
    size_t input_len;
};

static void handover_free(struct handover *h)
{
    if (!h) return;
    free(h->first);
    free(h->input);
    free(h);
}

int handover_start(struct conn_core *cc, struct conn *c, uint32_t to, const uint8_t *first, size_t first_len)
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
    h->kind = c->kind;
    conn_begin_move(cc, c, h);
    return 0;
}

/* The connection died while moving: forget the move. Once sent, the target owns h (it frees
 * it whether or not the fd arrived). */
static void on_abort(struct conn *c)
{
    struct handover *h = c->mv;
    if (h && !h->sent) handover_free(h);
}

/* Nothing in flight any more: the input read so far goes with h, and the slot goes to the
 * target's ring. */
static void on_quiescent(struct conn_core *cc, struct conn *c)
{
    struct handover *h = c->mv;
    if (h->sent) return;
    h->input = c->in;
    h->input_len = c->in_len;
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    struct core *target = &cc->co->group->cores[h->to];
    struct io_uring_sqe *sqe = core_sqe(cc->co);
    /* liburing 2.3 has no io_uring_prep_msg_ring_fd: fill the SQE as the kernel reads it. */
    io_uring_prep_rw(IORING_OP_MSG_RING, sqe, target->ring_fd, NULL, 0, 0);
    sqe->addr = IORING_MSG_SEND_FD;
    sqe->addr3 = c->slot;                          /* our fixed-file slot */
    sqe->file_index = IORING_FILE_INDEX_ALLOC;     /* any free slot of the target */
    sqe->off = ud_make(UD_HANDOVER_IN, (uint64_t)(uintptr_t)h);   /* the target's CQE user_data */
    struct conn_ref ref = conn_ref_of(cc, c);
    io_uring_sqe_set_data64(sqe, ud_conn(UD_HANDOVER_SENT, ref.idx, ref.gen));
    h->sent = true;
}

static void on_sent(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    uint64_t ud = cqe->user_data;
    struct conn *c = &cc->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    struct handover *h = c->mv;
    if (cqe->res < 0) {
        /* The target posts nothing when the file could not be installed: the handover is
         * still ours. The connection is closed (its input was already taken from it). */
        log_warn("handing a connection to core %u failed: %s", h ? h->to : 0, strerror(-cqe->res));
        stat_add(&cc->co->stats.handovers_failed, 1);
        c->mv = NULL;
        handover_free(h);
        conn_kill(cc, c);
        return;
    }
    stat_add(&cc->co->stats.handovers_ok, 1);
    conn_moved_away(cc, c);
}

static void on_in(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    struct handover *h = ud_ptr(cqe->user_data);
    if (cqe->res < 0) {
        handover_free(h);
        return;
    }
    struct conn *c = conn_adopt(cc, (uint32_t)cqe->res, h->state, h->kind);
    if (!c) {
        handover_free(h);
        return;
    }
    if (h->first) conn_deliver(cc, c, h->first, h->first_len, WS_OP_TEXT);
    if (h->input_len) conn_feed(cc, c, h->input, h->input_len);
    handover_free(h);
    conn_adopted(cc, c);
}

void handover_init(struct conn_core *cc)
{
    static const struct conn_mover mover = { .quiescent = on_quiescent, .abort = on_abort };
    conn_set_mover(cc, &mover);
    core_on_cqe(cc->co, UD_HANDOVER_IN, on_in, cc);
    core_on_cqe(cc->co, UD_HANDOVER_SENT, on_sent, cc);
}
