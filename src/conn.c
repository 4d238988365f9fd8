/* conn.c: the connection state machine (see conn.h for the states).
 *
 * Input arrives in provided buffers owned by the core: it is parsed in place and the buffer
 * goes back to the kernel before the next loop turn; only a partial HTTP request is copied
 * out (c->in), and the WebSocket reader keeps at most a partial header or a message in
 * progress. Output goes to the connection's queue and is sent once per loop turn, one send
 * in flight at a time. Every submission for a connection carries its index and generation,
 * so a completion that arrives after the slot was reused is recognised and ignored.
 */
#include "conn.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

static inline uint32_t idx_of(const struct conn_core *cc, const struct conn *c)
{
    return (uint32_t)(c - cc->conns);
}

/* ---- timeout lists: FIFO by stamp, so only heads are ever checked ---- */

static void list_remove(struct conn_core *cc, struct conn *c)
{
    if (c->list == LIST_NONE) return;
    struct conn_list *l = &cc->lists[c->list];
    if (c->prev != CONN_NIL) cc->conns[c->prev].next = c->next;
    else l->head = c->next;
    if (c->next != CONN_NIL) cc->conns[c->next].prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = CONN_NIL;
    c->list = LIST_NONE;
}

static void list_push(struct conn_core *cc, struct conn *c, enum conn_list_id id)
{
    list_remove(cc, c);
    struct conn_list *l = &cc->lists[id];
    uint32_t i = idx_of(cc, c);
    c->prev = l->tail;
    c->next = CONN_NIL;
    if (l->tail != CONN_NIL) cc->conns[l->tail].next = i;
    else l->head = i;
    l->tail = i;
    c->list = (uint8_t)id;
    c->stamp = core_stamp(cc->co);
}

static void move_try(struct conn_core *cc, struct conn *c);

/* ---- pool ---- */

/* Slots come from the free list, or else from the part of the pool never used yet (so the
 * pool's pages are touched only as connections need them). */
static struct conn *conn_alloc(struct conn_core *cc)
{
    struct conn *c;
    if (cc->free_head != CONN_NIL) {
        c = &cc->conns[cc->free_head];
        cc->free_head = c->link;
    } else if (cc->fresh < cc->conn_cap) {
        c = &cc->conns[cc->fresh++];
    } else {
        return NULL;
    }
    uint32_t gen = c->gen;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    c->prev = c->next = c->link = CONN_NIL;
    cc->nconns++;
    return c;
}

static void conn_release(struct conn_core *cc, struct conn *c)
{
    outq_free(&cc->pool, &c->q);
    ws_reader_reset(&c->rd);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->state = CONN_FREE;
    c->gen++;
    c->link = cc->free_head;
    cc->free_head = idx_of(cc, c);
    cc->nconns--;
}

/* ---- submissions ---- */

static void arm_recv(struct conn_core *cc, struct conn *c)
{
    struct io_uring_sqe *sqe = core_sqe(cc->co);
    io_uring_prep_recv_multishot(sqe, (int)c->slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ud_conn(UD_RECV, idx_of(cc, c), c->gen));
    c->flags |= CF_RECV;
}

static void mark_dirty(struct conn_core *cc, struct conn *c)
{
    if (c->flags & CF_DIRTY) return;
    c->flags |= CF_DIRTY;
    c->link = cc->dirty_head;
    cc->dirty_head = idx_of(cc, c);
}

static void submit_send(struct conn_core *cc, struct conn *c)
{
    struct iovec iov[64];
    size_t bytes;
    int n = outq_iov(&c->q, iov, 64, &bytes);
    if (n == 0) return;
    struct io_uring_sqe *sqe;
    if (n == 1) {
        sqe = core_sqe(cc->co);
        io_uring_prep_send(sqe, (int)c->slot, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        struct iovec *v = core_iov(cc->co, (uint32_t)n);
        struct msghdr *m = v ? core_msghdr(cc->co) : NULL;
        if (!m) {                      /* this turn's arena is used up: submit, then reuse it */
            core_submit(cc->co);
            v = core_iov(cc->co, (uint32_t)n);
            m = core_msghdr(cc->co);
        }
        memcpy(v, iov, sizeof(struct iovec) * (size_t)n);
        memset(m, 0, sizeof *m);
        m->msg_iov = v;
        m->msg_iovlen = (size_t)n;
        sqe = core_sqe(cc->co);
        io_uring_prep_sendmsg(sqe, (int)c->slot, m, MSG_NOSIGNAL);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn(UD_SEND, idx_of(cc, c), c->gen));
    c->flags |= CF_SEND;
}

/* A DEAD connection is freed once the kernel holds nothing of it: no request that names its
 * fixed-file slot may be pending when the slot is closed, or the next socket put in that slot
 * (an accept, a handover) would get it. */
static void maybe_free(struct conn_core *cc, struct conn *c)
{
    if (c->state != CONN_DEAD || (c->flags & (CF_RECV | CF_SEND | CF_DIRTY | CF_SHUT_BUSY))) return;
    struct io_uring_sqe *sqe = core_sqe(cc->co);
    io_uring_prep_close_direct(sqe, c->slot);
    io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
    if (c->flags & CF_IS_WS) stat_sub(&cc->co->stats.ws_conns, 1);
    stat_sub(&cc->co->stats.conns, 1);
    if (!(c->flags & CF_MOVED)) atomic_fetch_sub_explicit(&cc->shared->conns, 1, memory_order_relaxed);
    conn_release(cc, c);
}

/* The application's state goes with the connection (it may still be in a room until the end
 * of the turn, but nothing more is sent to it). */
static void forget_user(struct conn_core *cc, struct conn *c)
{
    if (!c->user) return;
    cc->handler.on_close(cc->handler.arg, c);
    c->user = NULL;
}

/* A move that had not passed the connection on is over: the mover frees its record. */
static void drop_move(struct conn_core *cc, struct conn *c)
{
    if (!c->mv) return;
    if (cc->mover.abort) cc->mover.abort(c);
    c->mv = NULL;
}

void conn_kill(struct conn_core *cc, struct conn *c)
{
    if (c->state == CONN_DEAD || c->state == CONN_FREE) return;
    forget_user(cc, c);
    drop_move(cc, c);
    if (c->state == CONN_WS && !(c->flags & (CF_CLOSE_SENT | CF_CLOSE_RCVD)))
        stat_add(&cc->co->stats.closes_by_code[stats_close_index(WS_CLOSE_ABNORMAL)], 1);
    c->state = CONN_DEAD;
    list_remove(cc, c);
    if ((c->flags & (CF_RECV | CF_SEND)) && !(c->flags & CF_CANCELLED)) {
        struct io_uring_sqe *sqe = core_sqe(cc->co);
        io_uring_prep_cancel_fd(sqe, (int)c->slot, IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        c->flags |= CF_CANCELLED;
    }
    maybe_free(cc, c);
}

/* Output is flushed (or we give up on it): shut down our side and wait for the peer's EOF. */
static void finish_close(struct conn_core *cc, struct conn *c)
{
    if (c->flags & CF_EOF) return conn_kill(cc, c);
    if (!(c->flags & CF_SHUT)) {
        struct io_uring_sqe *sqe = core_sqe(cc->co);
        io_uring_prep_shutdown(sqe, (int)c->slot, SHUT_WR);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, ud_conn(UD_SHUTDOWN, idx_of(cc, c), c->gen));
        c->flags |= CF_SHUT | CF_SHUT_BUSY;
    }
    c->state = CONN_LINGER;
}

static void begin_close(struct conn_core *cc, struct conn *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_LINGER || c->state == CONN_DEAD) return;
    c->state = CONN_CLOSING;
    list_push(cc, c, LIST_CLOSING);
    if (outq_empty(&c->q) && !(c->flags & CF_SEND)) finish_close(cc, c);
}

/* ---- output ---- */

/* After queueing: enforce --max-backlog on what was queued before (`before` bytes), so a
 * single message bigger than the backlog (up to --max-message) still goes to a reader that
 * keeps up, while a reader that does not is closed at its next message. */
static bool check_backlog(struct conn_core *cc, struct conn *c, uint64_t before)
{
    if (before <= cc->cfg->max_backlog) return true;
    stat_add(&cc->co->stats.backlog_drops, 1);
    outq_drop_unsent(&cc->pool, &c->q);
    if (c->state == CONN_WS) conn_ws_close(cc, c, WS_CLOSE_POLICY, "slow consumer: output backlog over limit");
    else conn_kill(cc, c);
    return false;
}

static bool queue_raw(struct conn_core *cc, struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (!outq_write(&cc->pool, &c->q, a, alen, b, blen)) {
        log_warn("out of memory queueing %zu bytes; closing connection", alen + blen);
        conn_kill(cc, c);
        return false;
    }
    mark_dirty(cc, c);
    return true;
}

static bool queue_frame(struct conn_core *cc, struct conn *c, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl = ws_frame_header(hdr, opcode, true, len, NULL);
    if (!queue_raw(cc, c, hdr, hl, payload, len)) return false;
    stat_add(&cc->co->stats.ws_msgs_out, 1);
    return true;
}

bool conn_send_frame(struct conn_core *cc, struct conn *c, uint8_t opcode, const void *payload, size_t len)
{
    if (c->state != CONN_WS) return false;
    uint64_t before = c->q.bytes;
    return queue_frame(cc, c, opcode, payload, len) && check_backlog(cc, c, before);
}

bool conn_send_raw(struct conn_core *cc, struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (c->state != CONN_HTTP && c->state != CONN_WS) return false;
    uint64_t before = c->q.bytes;
    return queue_raw(cc, c, a, alen, b, blen) && check_backlog(cc, c, before);
}

bool conn_send_shared(struct conn_core *cc, struct conn *c, struct obuf *frame)
{
    if (c->state != CONN_WS) return false;
    if (!outq_push(&cc->pool, &c->q, frame, 0, frame->len)) {
        conn_kill(cc, c);
        return false;
    }
    stat_add(&cc->co->stats.ws_msgs_out, 1);
    mark_dirty(cc, c);
    return check_backlog(cc, c, c->q.bytes - frame->len);
}

void conn_ws_close(struct conn_core *cc, struct conn *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_WS || (c->flags & CF_CLOSE_SENT)) return;
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, code, reason);
    c->flags |= CF_CLOSE_SENT;
    c->close_code = code;
    stat_add(&cc->co->stats.closes_by_code[stats_close_index(code)], 1);
    if (!queue_frame(cc, c, WS_OP_CLOSE, payload, n)) return;
    begin_close(cc, c);
}

void conn_http_respond(struct conn_core *cc, struct conn *c, const struct http_request *req, int status,
                       const char *content_type, const void *body, size_t len, const char *extra_headers)
{
    bool keep = req && req->keep_alive && !core_draining(cc->co) && !(c->flags & CF_REJECT);
    char head[1024];
    size_t hl = http_response_head(head, sizeof head, status, content_type, len, keep, extra_headers);
    if (hl == 0) {
        hl = http_response_head(head, sizeof head, 500, "text/plain", 0, false, NULL);
        len = 0;
        keep = false;
    }
    if (req && req->method == METHOD_HEAD) len = 0;
    if (!conn_send_raw(cc, c, head, hl, body, len)) return;
    if (!keep) begin_close(cc, c);
}

/* ---- HTTP ---- */

void conn_upgrade(struct conn_core *cc, struct conn *c, const struct http_request *req, uint8_t kind)
{
    char accept[WS_ACCEPT_LEN + 1];
    int status = http_ws_handshake_check(req, accept);
    if (status) {
        const char *extra, *msg = http_ws_handshake_error(req, status, &extra);
        conn_http_respond(cc, c, req, status, "text/plain", msg, strlen(msg), extra);
        return;
    }
    char resp[256];
    size_t n = http_upgrade_response(resp, sizeof resp, accept);
    if (!conn_send_raw(cc, c, resp, n, NULL, 0)) return;
    c->state = CONN_WS;
    c->kind = kind;
    c->flags |= CF_IS_WS;
    stat_add(&cc->co->stats.ws_conns, 1);
    list_push(cc, c, LIST_WS);
}

/* Handles one request at the start of buf. Returns the bytes it used, 0 if incomplete. */
static size_t http_step(struct conn_core *cc, struct conn *c, uint8_t *buf, size_t len)
{
    struct http_request req;
    long r = http_parse_request((const char *)buf, len, &cc->http_lim, &req);
    if (r == 0) return 0;
    if (r < 0) {
        int status = (int)-r;
        char msg[96];
        int ml = snprintf(msg, sizeof msg, "%d %s\n", status, http_status_text(status));
        conn_http_respond(cc, c, NULL, status, "text/plain", msg, (size_t)ml, NULL);
        return len;
    }
    stat_add(&cc->co->stats.http_requests, 1);
    list_push(cc, c, LIST_HTTP);          /* a new request: the keep-alive clock restarts */
    cc->handler.on_request(cc->handler.arg, c, &req);
    if (c->state == CONN_MOVING) return 0;   /* the owning core answers this request */
    return (size_t)r;
}

/* ---- WebSocket ---- */

void conn_deliver(struct conn_core *cc, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode)
{
    stat_add(&cc->co->stats.ws_msgs_in, 1);
    cc->handler.on_message(cc->handler.arg, c, data, len, opcode);
}

static size_t ws_step(struct conn_core *cc, struct conn *c, uint8_t *buf, size_t len)
{
    size_t used;
    struct ws_event ev;
    ws_reader_next(&c->rd, &cc->ws_lim, buf, len, &used, &ev);
    switch (ev.type) {
    case WS_EV_NEED_MORE:
        break;
    case WS_EV_MESSAGE:
        conn_deliver(cc, c, ev.data, ev.len, ev.opcode);
        break;
    case WS_EV_PING:
        conn_send_frame(cc, c, WS_OP_PONG, ev.data, ev.len);
        break;
    case WS_EV_PONG:
        break;
    case WS_EV_CLOSE:
        c->flags |= CF_CLOSE_RCVD;
        conn_ws_close(cc, c, ev.code, "");   /* echo the peer's code (none if it sent none) */
        break;
    case WS_EV_ERROR:
        log_debug("closing %u: %s (%u)", idx_of(cc, c), ev.why, ev.code);
        conn_ws_close(cc, c, ev.code, ev.why);
        break;
    }
    return used ? used : len;
}

/* ---- input ---- */

static bool in_append(struct conn *c, const uint8_t *data, size_t n)
{
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < c->in_len + n) cap *= 2;
        if (cap > UINT32_MAX) return false;
        uint8_t *p = realloc(c->in, cap);
        if (!p) return false;
        c->in = p;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, data, n);
    c->in_len += (uint32_t)n;
    return true;
}

static void in_drop(struct conn *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

void conn_feed(struct conn_core *cc, struct conn *c, uint8_t *data, size_t n)
{
    uint8_t *buf = data;
    size_t len = n;
    bool from_in = c->in_len > 0;
    if (from_in) {
        if (!in_append(c, data, n)) return conn_kill(cc, c);
        buf = c->in;
        len = c->in_len;
    }
    size_t off = 0;
    while (off < len) {
        size_t used;
        if (c->state == CONN_HTTP) used = http_step(cc, c, buf + off, len - off);
        else if (c->state == CONN_WS) used = ws_step(cc, c, buf + off, len - off);
        else used = len - off;          /* closing: input is read and dropped */
        off += used;
        if (c->state == CONN_MOVING || used == 0) break;
    }
    /* A partial request waits for more; a moving connection keeps the rest (its unhandled
     * request included) for the core that takes it over. */
    if (off < len && (c->state == CONN_HTTP || c->state == CONN_MOVING)) {
        if (from_in) {
            memmove(c->in, c->in + off, len - off);
            c->in_len = (uint32_t)(len - off);
        } else if (!in_append(c, buf + off, len - off)) {
            conn_kill(cc, c);
        }
    } else if (from_in) {
        in_drop(c);
    }
}

/* ---- completions ---- */

static void on_accept(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    int32_t slot = cqe->res;
    struct conn *c = conn_alloc(cc);
    if (!c) {                            /* cannot happen: the pool is as big as the table */
        struct io_uring_sqe *sqe = core_sqe(cc->co);
        io_uring_prep_close_direct(sqe, (unsigned)slot);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        return;
    }
    c->slot = (uint32_t)slot;
    c->state = CONN_HTTP;
    stat_add(&cc->co->stats.conns, 1);
    stat_add(&cc->co->stats.accepted, 1);
    uint32_t total = atomic_fetch_add_explicit(&cc->shared->conns, 1, memory_order_relaxed) + 1;
    list_push(cc, c, LIST_HTTP);
    arm_recv(cc, c);
    if (total > cc->shared->max_conns) {
        c->flags |= CF_REJECT;
        stat_add(&cc->co->stats.rejected, 1);
        static const char body[] = "{\"error\":\"server-full\",\"message\":\"connection limit reached\"}\n";
        conn_http_respond(cc, c, NULL, 503, "application/json", body, sizeof body - 1, "Retry-After: 1\r\n");
    }
}

static void on_recv(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    uint64_t ud = cqe->user_data;
    struct conn *c = &cc->conns[ud_idx(ud)];
    int res = cqe->res;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    uint8_t *data = has_buf ? core_buf(cc->co, bid) : NULL;

    if (c->gen == ud_gen(ud) && c->state != CONN_FREE) {
        if (!more) c->flags &= ~CF_RECV;
        if (res > 0 && data && c->state == CONN_MOVING) {
            stat_add(&cc->co->stats.bytes_in, (uint64_t)res);
            if (!in_append(c, data, (size_t)res)) conn_kill(cc, c);   /* kept for the target core */
        } else if (res > 0 && data) {
            stat_add(&cc->co->stats.bytes_in, (uint64_t)res);
            if (c->state == CONN_WS && (c->list == LIST_PINGED || core_stamp(cc->co) - c->stamp >= 1000))
                list_push(cc, c, LIST_WS);
            conn_feed(cc, c, data, (size_t)res);
        } else if (res == 0) {
            c->flags |= CF_EOF;
            if (c->state == CONN_CLOSING) { /* flush what is queued, then close */ }
            else if (c->state == CONN_MOVING) conn_kill(cc, c);
            else if (c->state == CONN_HTTP && !outq_empty(&c->q)) begin_close(cc, c);
            else conn_kill(cc, c);
        } else if (res == -ENOBUFS) {
            stat_add(&cc->co->stats.enobufs, 1);
            if (!(c->flags & CF_STARVED) && c->state != CONN_DEAD && c->state != CONN_MOVING) {
                if (cc->nstarved == cc->starved_cap) {
                    uint32_t cap = cc->starved_cap ? cc->starved_cap * 2 : 256;
                    uint32_t *p = realloc(cc->starved, cap * sizeof *p);
                    if (!p) { conn_kill(cc, c); goto done; }
                    cc->starved = p;
                    cc->starved_cap = cap;
                }
                cc->starved[cc->nstarved++] = idx_of(cc, c);
                c->flags |= CF_STARVED;
            }
        } else if (res < 0 && res != -ECANCELED) {
            conn_kill(cc, c);
        }
        if (c->state == CONN_DEAD) maybe_free(cc, c);
        else if (c->state == CONN_MOVING) move_try(cc, c);
        else if (!(c->flags & (CF_RECV | CF_STARVED | CF_EOF))) arm_recv(cc, c);
    }
done:
    if (has_buf) {
        core_buf_return(cc->co, bid);
    }
}

static void on_send(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    uint64_t ud = cqe->user_data;
    struct conn *c = &cc->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    c->flags &= ~CF_SEND;
    if (cqe->res < 0) {
        c->q.inflight_segs = 0;
        if (cqe->res != -ECANCELED && cqe->res != -EPIPE && cqe->res != -ECONNRESET)
            log_debug("send failed: %s", strerror(-cqe->res));
        conn_kill(cc, c);
        return maybe_free(cc, c);
    }
    stat_add(&cc->co->stats.bytes_out, (uint64_t)cqe->res);
    outq_consume(&cc->pool, &c->q, (size_t)cqe->res);
    if (c->state == CONN_DEAD) return maybe_free(cc, c);
    if (!outq_empty(&c->q)) mark_dirty(cc, c);
    else if (c->state == CONN_CLOSING) finish_close(cc, c);
    else if (c->state == CONN_MOVING) move_try(cc, c);
}

static void on_shutdown(void *arg, struct io_uring_cqe *cqe)
{
    struct conn_core *cc = arg;
    uint64_t ud = cqe->user_data;
    struct conn *c = &cc->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    c->flags &= ~CF_SHUT_BUSY;
    maybe_free(cc, c);
}

/* Turn hook: one send for every connection with queued output. */
static uint32_t flush_dirty(void *arg)
{
    struct conn_core *cc = arg;
    uint32_t i = cc->dirty_head;
    cc->dirty_head = CONN_NIL;
    while (i != CONN_NIL) {
        struct conn *c = &cc->conns[i];
        uint32_t next = c->link;
        c->flags &= ~CF_DIRTY;
        c->link = CONN_NIL;
        if (c->state == CONN_DEAD) maybe_free(cc, c);
        else if (!(c->flags & CF_SEND) && !outq_empty(&c->q)) submit_send(cc, c);
        i = next;
    }
    return UINT32_MAX;
}

/* Turn hook: re-arms recv on connections that ran out of provided buffers. */
static uint32_t rearm_starved(void *arg)
{
    struct conn_core *cc = arg;
    for (uint32_t k = 0; k < cc->nstarved; k++) {
        struct conn *c = &cc->conns[cc->starved[k]];
        c->flags &= ~CF_STARVED;
        if (c->state == CONN_DEAD) maybe_free(cc, c);
        else if (c->state == CONN_MOVING) move_try(cc, c);
        else if (!(c->flags & (CF_RECV | CF_EOF))) arm_recv(cc, c);
    }
    cc->nstarved = 0;
    return UINT32_MAX;
}

/* Timer tick: handshake, idle, ping and linger deadlines. */
static void expire(struct conn_core *cc)
{
    uint32_t now = core_stamp(cc->co);
    uint32_t hs = cc->cfg->handshake_timeout_ms, half = cc->cfg->idle_timeout_ms / 2;
    uint32_t i;
    while ((i = cc->lists[LIST_HTTP].head) != CONN_NIL && now - cc->conns[i].stamp >= hs) {
        struct conn *c = &cc->conns[i];
        if (c->in_len) {              /* a request started and never finished */
            static const char msg[] = "408 Request Timeout\n";
            list_remove(cc, c);
            conn_http_respond(cc, c, NULL, 408, "text/plain", msg, sizeof msg - 1, NULL);
            if (c->list == LIST_NONE) conn_kill(cc, c);
        } else {
            conn_kill(cc, c);
        }
    }
    while ((i = cc->lists[LIST_WS].head) != CONN_NIL && now - cc->conns[i].stamp >= half) {
        struct conn *c = &cc->conns[i];
        conn_send_frame(cc, c, WS_OP_PING, NULL, 0);
        if (c->state == CONN_WS) list_push(cc, c, LIST_PINGED);
    }
    while ((i = cc->lists[LIST_PINGED].head) != CONN_NIL && now - cc->conns[i].stamp >= half) {
        conn_ws_close(cc, &cc->conns[i], WS_CLOSE_GOING_AWAY, "idle timeout");
    }
    while ((i = cc->lists[LIST_CLOSING].head) != CONN_NIL && now - cc->conns[i].stamp >= hs) {
        conn_kill(cc, &cc->conns[i]);
    }
}

/* SIGTERM: every WebSocket client gets the application's last words and close 1001. */
static void drain_all(struct conn_core *cc)
{
    enum conn_list_id ids[] = { LIST_WS, LIST_PINGED };
    for (size_t k = 0; k < 2; k++) {
        uint32_t i;
        while ((i = cc->lists[ids[k]].head) != CONN_NIL) {
            struct conn *c = &cc->conns[i];
            cc->handler.on_drain(cc->handler.arg, c);
            conn_ws_close(cc, c, WS_CLOSE_GOING_AWAY, "server draining");
            if (c->list == ids[k]) list_remove(cc, c);   /* could not close it: do not spin */
        }
    }
}

/* Connections that keep a drain going (WebSocket and closing ones). */
static uint32_t draining_count(const struct conn_core *cc)
{
    uint32_t n = 0;
    enum conn_list_id ids[] = { LIST_WS, LIST_PINGED, LIST_CLOSING };
    for (size_t k = 0; k < 3; k++)
        for (uint32_t i = cc->lists[ids[k]].head; i != CONN_NIL; i = cc->conns[i].next) n++;
    return n;
}

static void on_tick(void *arg)
{
    struct conn_core *cc = arg;
    expire(cc);
    if (core_draining(cc->co)) {
        if (!cc->draining) {
            cc->draining = true;
            drain_all(cc);
        }
        core_set_busy(cc->co, draining_count(cc));
    }
    if (cc->nconns < cc->conn_cap) core_arm_accept(cc->co);
}

struct conn *conn_deref(struct conn_core *cc, struct conn_ref ref)
{
    if (ref.idx >= cc->conn_cap) return NULL;
    struct conn *c = &cc->conns[ref.idx];
    return c->gen == ref.gen && c->state == CONN_WS ? c : NULL;
}

/* ---- moving between cores (handover.c) ---- */

/* Nothing in flight or queued. */
static bool quiescent(const struct conn *c)
{
    return !(c->flags & (CF_RECV | CF_SEND)) && outq_empty(&c->q);
}

/* Passes a moving connection on once nothing is in flight (after recv/send completions). */
static void move_try(struct conn_core *cc, struct conn *c)
{
    if (c->mv && c->state == CONN_MOVING && quiescent(c)) cc->mover.quiescent(cc, c);
}

void conn_begin_move(struct conn_core *cc, struct conn *c, void *mv)
{
    c->mv = mv;
    c->state = CONN_MOVING;
    list_remove(cc, c);
    if ((c->flags & CF_RECV) && !(c->flags & CF_CANCELLED)) {
        struct io_uring_sqe *sqe = core_sqe(cc->co);
        io_uring_prep_cancel64(sqe, ud_conn(UD_RECV, idx_of(cc, c), c->gen), 0);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
    }
    move_try(cc, c);
}

void conn_moved_away(struct conn_core *cc, struct conn *c)
{
    forget_user(cc, c);
    c->mv = NULL;
    c->flags |= CF_MOVED;
    c->state = CONN_DEAD;
    maybe_free(cc, c);
}

struct conn *conn_adopt(struct conn_core *cc, uint32_t slot, uint8_t state, uint8_t kind)
{
    struct conn *c = conn_alloc(cc);
    if (!c) {
        struct io_uring_sqe *sqe = core_sqe(cc->co);
        io_uring_prep_close_direct(sqe, slot);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        return NULL;
    }
    c->slot = slot;
    c->state = state;
    c->kind = kind;
    stat_add(&cc->co->stats.conns, 1);
    if (state == CONN_WS) {
        c->flags |= CF_IS_WS;
        stat_add(&cc->co->stats.ws_conns, 1);
        list_push(cc, c, LIST_WS);
    } else {
        list_push(cc, c, LIST_HTTP);
    }
    return c;
}

void conn_adopted(struct conn_core *cc, struct conn *c)
{
    if (c->state == CONN_MOVING) move_try(cc, c);
    else if (c->state == CONN_DEAD) maybe_free(cc, c);
    else if (!(c->flags & (CF_RECV | CF_EOF))) arm_recv(cc, c);
}

/* ---- the core's transport ---- */

int conn_core_init(struct conn_core *cc, struct core *co, const struct config *cfg, struct conn_shared *shared,
                   const struct conn_handler *handler)
{
    memset(cc, 0, sizeof *cc);
    cc->co = co;
    cc->cfg = cfg;
    cc->shared = shared;
    cc->handler = *handler;
    cc->conn_cap = co->table_size;
    /* Reserved, not committed: a page of the pool is touched only when a connection first
     * uses a slot in it (conn_alloc takes never-used slots in order). */
    cc->conns = mmap(NULL, (size_t)cc->conn_cap * sizeof(struct conn), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (cc->conns == MAP_FAILED) {
        cc->conns = NULL;
        return -errno;
    }
    cc->free_head = CONN_NIL;
    for (int l = 0; l < LIST_COUNT; l++) cc->lists[l].head = cc->lists[l].tail = CONN_NIL;
    cc->dirty_head = CONN_NIL;
    opool_init(&cc->pool);
    cc->ws_lim = (struct ws_limits){ .max_frame = cfg->max_frame, .max_message = cfg->max_message, .peer_masks = true };
    cc->http_lim = (struct http_limits){ .max_header_bytes = cfg->max_header_bytes, .max_body_bytes = cfg->max_body_bytes };
    core_on_cqe(co, UD_ACCEPT, on_accept, cc);
    core_on_cqe(co, UD_RECV, on_recv, cc);
    core_on_cqe(co, UD_SEND, on_send, cc);
    core_on_cqe(co, UD_SHUTDOWN, on_shutdown, cc);
    core_on_tick(co, on_tick, cc);
    return 0;
}

void conn_set_mover(struct conn_core *cc, const struct conn_mover *m)
{
    cc->mover = *m;
}

/* The transport's turn hooks, registered by the process after the application's (rooms end
 * their turn first, then everything they queued is sent). */
void conn_core_hooks(struct conn_core *cc)
{
    core_on_turn(cc->co, flush_dirty, cc);
    core_on_turn(cc->co, rearm_starved, cc);
}

void conn_core_finish(struct conn_core *cc)
{
    flush_dirty(cc);
    core_submit(cc->co);
}

void conn_core_free(struct conn_core *cc)
{
    if (!cc->conns) return;
    for (uint32_t i = 0; i < cc->fresh; i++) {
        struct conn *c = &cc->conns[i];
        if (c->state == CONN_FREE) continue;
        forget_user(cc, c);
        drop_move(cc, c);
        conn_release(cc, c);
    }
    munmap(cc->conns, (size_t)cc->conn_cap * sizeof(struct conn));
    cc->conns = NULL;
    opool_destroy(&cc->pool);
    free(cc->starved);
}
