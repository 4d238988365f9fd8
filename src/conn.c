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

#include "api.h"
#include "handover.h"
#include "log.h"
#include "proto.h"
#include "room.h"
#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const uint16_t conn_close_codes[CLOSE_CODE_SLOTS] = { 0, 1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                        1008, 1009, 1010, 1011, 1013, 0, 0, 0 };

int conn_close_index(uint16_t code)
{
    for (int i = 1; i < 13; i++)
        if (conn_close_codes[i] == code) return i;
    return 0;
}

static inline uint32_t idx_of(const struct core *co, const struct conn *c)
{
    return (uint32_t)(c - co->conns);
}

/* ---- timeout lists: FIFO by stamp, so only heads are ever checked ---- */

static void list_remove(struct core *co, struct conn *c)
{
    if (c->list == LIST_NONE) return;
    struct conn_list *l = &co->lists[c->list];
    if (c->prev != CONN_NIL) co->conns[c->prev].next = c->next;
    else l->head = c->next;
    if (c->next != CONN_NIL) co->conns[c->next].prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = CONN_NIL;
    c->list = LIST_NONE;
}

static void list_push(struct core *co, struct conn *c, enum conn_list_id id)
{
    list_remove(co, c);
    struct conn_list *l = &co->lists[id];
    uint32_t i = idx_of(co, c);
    c->prev = l->tail;
    c->next = CONN_NIL;
    if (l->tail != CONN_NIL) co->conns[l->tail].next = i;
    else l->head = i;
    l->tail = i;
    c->list = (uint8_t)id;
    c->stamp = core_stamp(co);
}

/* ---- pool ---- */

static struct conn *conn_alloc(struct core *co)
{
    if (co->free_head == CONN_NIL) return NULL;
    struct conn *c = &co->conns[co->free_head];
    co->free_head = c->link;
    uint32_t gen = c->gen;
    memset(c, 0, sizeof *c);
    c->gen = gen;
    c->prev = c->next = c->link = CONN_NIL;
    co->nconns++;
    return c;
}

static void conn_release(struct core *co, struct conn *c)
{
    outq_free(&co->pool, &c->q);
    ws_reader_reset(&c->rd);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->state = CONN_FREE;
    c->gen++;
    c->link = co->free_head;
    co->free_head = idx_of(co, c);
    co->nconns--;
}

/* ---- submissions ---- */

static void arm_recv(struct core *co, struct conn *c)
{
    struct io_uring_sqe *sqe = core_sqe(co);
    io_uring_prep_recv_multishot(sqe, (int)c->slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ud_conn(UD_RECV, idx_of(co, c), c->gen));
    c->flags |= CF_RECV;
}

static void mark_dirty(struct core *co, struct conn *c)
{
    if (c->flags & CF_DIRTY) return;
    c->flags |= CF_DIRTY;
    c->link = co->dirty_head;
    co->dirty_head = idx_of(co, c);
}

static void submit_send(struct core *co, struct conn *c)
{
    struct iovec iov[64];
    size_t bytes;
    int n = outq_iov(&c->q, iov, 64, &bytes);
    if (n == 0) return;
    struct io_uring_sqe *sqe;
    if (n == 1) {
        sqe = core_sqe(co);
        io_uring_prep_send(sqe, (int)c->slot, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        struct iovec *v = core_iov(co, (uint32_t)n);
        struct msghdr *m = v ? core_msghdr(co) : NULL;
        if (!m) {                      /* this turn's arena is used up: submit, then reuse it */
            io_uring_submit(&co->ring);
            co->iov_used = co->msg_used = 0;
            v = core_iov(co, (uint32_t)n);
            m = core_msghdr(co);
        }
        memcpy(v, iov, sizeof(struct iovec) * (size_t)n);
        memset(m, 0, sizeof *m);
        m->msg_iov = v;
        m->msg_iovlen = (size_t)n;
        sqe = core_sqe(co);
        io_uring_prep_sendmsg(sqe, (int)c->slot, m, MSG_NOSIGNAL);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn(UD_SEND, idx_of(co, c), c->gen));
    c->flags |= CF_SEND;
}

/* A DEAD connection is freed once the kernel holds nothing of it: no request that names its
 * fixed-file slot may be pending when the slot is closed, or the next socket put in that slot
 * (an accept, a handover) would get it. */
static void maybe_free(struct core *co, struct conn *c)
{
    if (c->state != CONN_DEAD || (c->flags & (CF_RECV | CF_SEND | CF_DIRTY | CF_SHUT_BUSY))) return;
    struct io_uring_sqe *sqe = core_sqe(co);
    io_uring_prep_close_direct(sqe, c->slot);
    io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
    if (c->flags & CF_IS_WS) stat_sub(&co->stats.ws_conns, 1);
    stat_sub(&co->stats.conns, 1);
    if (!(c->flags & CF_MOVED)) atomic_fetch_sub_explicit(&co->srv->conns, 1, memory_order_relaxed);
    conn_release(co, c);
}

void conn_kill(struct core *co, struct conn *c)
{
    if (c->state == CONN_DEAD || c->state == CONN_FREE) return;
    if (c->session) {
        session_detach(co, c->session);
        c->session = NULL;
    }
    if (c->mv) handover_abort(c);
    if (c->state == CONN_WS && !(c->flags & (CF_CLOSE_SENT | CF_CLOSE_RCVD)))
        stat_add(&co->stats.closes_by_code[conn_close_index(WS_CLOSE_ABNORMAL)], 1);
    c->state = CONN_DEAD;
    list_remove(co, c);
    if ((c->flags & (CF_RECV | CF_SEND)) && !(c->flags & CF_CANCELLED)) {
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_cancel_fd(sqe, (int)c->slot, IORING_ASYNC_CANCEL_FD_FIXED | IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        c->flags |= CF_CANCELLED;
    }
    maybe_free(co, c);
}

/* Output is flushed (or we give up on it): shut down our side and wait for the peer's EOF. */
static void finish_close(struct core *co, struct conn *c)
{
    if (c->flags & CF_EOF) return conn_kill(co, c);
    if (!(c->flags & CF_SHUT)) {
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_shutdown(sqe, (int)c->slot, SHUT_WR);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, ud_conn(UD_SHUTDOWN, idx_of(co, c), c->gen));
        c->flags |= CF_SHUT | CF_SHUT_BUSY;
    }
    c->state = CONN_LINGER;
}

static void begin_close(struct core *co, struct conn *c)
{
    if (c->state == CONN_CLOSING || c->state == CONN_LINGER || c->state == CONN_DEAD) return;
    c->state = CONN_CLOSING;
    list_push(co, c, LIST_CLOSING);
    if (outq_empty(&c->q) && !(c->flags & CF_SEND)) finish_close(co, c);
}

/* ---- output ---- */

/* After queueing: enforce --max-backlog on what was queued before (`before` bytes), so a
 * single message bigger than the backlog (up to --max-message) still goes to a reader that
 * keeps up, while a reader that does not is closed at its next message. */
static bool check_backlog(struct core *co, struct conn *c, uint64_t before)
{
    if (before <= co->cfg->max_backlog) return true;
    stat_add(&co->stats.backlog_drops, 1);
    outq_drop_unsent(&co->pool, &c->q);
    if (c->state == CONN_WS) conn_ws_close(co, c, WS_CLOSE_POLICY, "slow consumer: output backlog over limit");
    else conn_kill(co, c);
    return false;
}

static bool queue_raw(struct core *co, struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (!outq_write(&co->pool, &c->q, a, alen, b, blen)) {
        log_warn("out of memory queueing %zu bytes; closing connection", alen + blen);
        conn_kill(co, c);
        return false;
    }
    mark_dirty(co, c);
    return true;
}

static bool queue_frame(struct core *co, struct conn *c, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WS_MAX_HEADER];
    size_t hl = ws_frame_header(hdr, opcode, true, len, NULL);
    if (!queue_raw(co, c, hdr, hl, payload, len)) return false;
    stat_add(&co->stats.ws_msgs_out, 1);
    return true;
}

bool conn_send_frame(struct core *co, struct conn *c, uint8_t opcode, const void *payload, size_t len)
{
    if (c->state != CONN_WS) return false;
    uint64_t before = c->q.bytes;
    return queue_frame(co, c, opcode, payload, len) && check_backlog(co, c, before);
}

bool conn_send_raw(struct core *co, struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (c->state != CONN_HTTP && c->state != CONN_WS) return false;
    uint64_t before = c->q.bytes;
    return queue_raw(co, c, a, alen, b, blen) && check_backlog(co, c, before);
}

bool conn_send_shared(struct core *co, struct conn *c, struct obuf *frame)
{
    if (c->state != CONN_WS) return false;
    if (!outq_push(&co->pool, &c->q, frame, 0, frame->len)) {
        conn_kill(co, c);
        return false;
    }
    stat_add(&co->stats.ws_msgs_out, 1);
    mark_dirty(co, c);
    return check_backlog(co, c, c->q.bytes - frame->len);
}

void conn_ws_close(struct core *co, struct conn *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_WS || (c->flags & CF_CLOSE_SENT)) return;
    uint8_t payload[WS_MAX_CONTROL];
    size_t n = code == WS_CLOSE_NO_STATUS ? 0 : ws_close_payload(payload, code, reason);
    c->flags |= CF_CLOSE_SENT;
    c->close_code = code;
    stat_add(&co->stats.closes_by_code[conn_close_index(code)], 1);
    if (!queue_frame(co, c, WS_OP_CLOSE, payload, n)) return;
    begin_close(co, c);
}

void conn_http_respond(struct core *co, struct conn *c, const struct http_request *req, int status,
                       const char *content_type, const void *body, size_t len, const char *extra_headers)
{
    bool keep = req && req->keep_alive && !server_draining(co->srv) && !(c->flags & CF_REJECT);
    char head[1024];
    size_t hl = http_response_head(head, sizeof head, status, content_type, len, keep, extra_headers);
    if (hl == 0) {
        hl = http_response_head(head, sizeof head, 500, "text/plain", 0, false, NULL);
        len = 0;
        keep = false;
    }
    if (req && req->method == METHOD_HEAD) len = 0;
    if (!conn_send_raw(co, c, head, hl, body, len)) return;
    if (!keep) begin_close(co, c);
}

/* ---- HTTP ---- */

static void upgrade(struct core *co, struct conn *c, const struct http_request *req, enum http_route route)
{
    if (server_draining(co->srv)) {
        static const char body[] = "{\"error\":\"draining\",\"message\":\"server is shutting down\"}\n";
        conn_http_respond(co, c, req, 503, "application/json", body, sizeof body - 1, "Retry-After: 1\r\n");
        return;
    }
    char accept[WS_ACCEPT_LEN + 1];
    int status = http_ws_handshake_check(req, accept);
    if (status) {
        const char *extra = NULL, *msg = "bad WebSocket handshake\n";
        if (status == 426) {
            extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
            msg = "WebSocket upgrade required (version 13)\n";
        } else if (status == 405) {
            extra = "Allow: GET\r\n";
            msg = "WebSocket handshake must be GET\n";
        } else if (!req->ws_key.p) {
            msg = "missing Sec-WebSocket-Key\n";
        } else {
            msg = "invalid Sec-WebSocket-Key\n";
        }
        conn_http_respond(co, c, req, status, "text/plain", msg, strlen(msg), extra);
        return;
    }
    char resp[256];
    size_t n = http_upgrade_response(resp, sizeof resp, accept);
    if (!conn_send_raw(co, c, resp, n, NULL, 0)) return;
    c->state = CONN_WS;
    c->route = (uint8_t)route;
    c->flags |= CF_IS_WS;
    stat_add(&co->stats.ws_conns, 1);
    list_push(co, c, LIST_WS);
}

/* Handles one request at the start of buf. Returns the bytes it used, 0 if incomplete. */
static size_t http_step(struct core *co, struct conn *c, uint8_t *buf, size_t len)
{
    struct http_request req;
    long r = http_parse_request((const char *)buf, len, &co->http_lim, &req);
    if (r == 0) return 0;
    if (r < 0) {
        int status = (int)-r;
        char msg[96];
        int ml = snprintf(msg, sizeof msg, "%d %s\n", status, http_status_text(status));
        conn_http_respond(co, c, NULL, status, "text/plain", msg, (size_t)ml, NULL);
        return len;
    }
    stat_add(&co->stats.http_requests, 1);
    list_push(co, c, LIST_HTTP);          /* a new request: the keep-alive clock restarts */
    struct http_slice arg;
    enum http_route route = http_route(req.path, &arg);
    if (route == ROUTE_WS || route == ROUTE_ECHO) upgrade(co, c, &req, route);
    else api_handle(co, c, &req, route, arg);
    if (c->state == CONN_MOVING) return 0;   /* the owning core answers this request */
    return (size_t)r;
}

/* ---- WebSocket ---- */

static void on_ws_message(struct core *co, struct conn *c, const struct ws_event *ev)
{
    stat_add(&co->stats.ws_msgs_in, 1);
    if (c->route == ROUTE_ECHO) conn_send_frame(co, c, ev->opcode, ev->data, ev->len);
    else proto_on_message(co, c, ev->data, ev->len, ev->opcode);
}

static size_t ws_step(struct core *co, struct conn *c, uint8_t *buf, size_t len)
{
    size_t used;
    struct ws_event ev;
    ws_reader_next(&c->rd, &co->ws_lim, buf, len, &used, &ev);
    switch (ev.type) {
    case WS_EV_NEED_MORE:
        break;
    case WS_EV_MESSAGE:
        on_ws_message(co, c, &ev);
        break;
    case WS_EV_PING:
        conn_send_frame(co, c, WS_OP_PONG, ev.data, ev.len);
        break;
    case WS_EV_PONG:
        break;
    case WS_EV_CLOSE:
        c->flags |= CF_CLOSE_RCVD;
        conn_ws_close(co, c, ev.code, "");   /* echo the peer's code (none if it sent none) */
        break;
    case WS_EV_ERROR:
        log_debug("closing %u: %s (%u)", idx_of(co, c), ev.why, ev.code);
        conn_ws_close(co, c, ev.code, ev.why);
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

void conn_feed(struct core *co, struct conn *c, uint8_t *data, size_t n)
{
    uint8_t *buf = data;
    size_t len = n;
    bool from_in = c->in_len > 0;
    if (from_in) {
        if (!in_append(c, data, n)) return conn_kill(co, c);
        buf = c->in;
        len = c->in_len;
    }
    size_t off = 0;
    while (off < len) {
        size_t used;
        if (c->state == CONN_HTTP) used = http_step(co, c, buf + off, len - off);
        else if (c->state == CONN_WS) used = ws_step(co, c, buf + off, len - off);
        else used = len - off;          /* closing: input is read and dropped */
        off += used;
        if (c->state == CONN_MOVING) {   /* the rest is for the core that takes it over */
            if (!handover_keep(c, buf + off, len - off)) conn_kill(co, c);
            if (from_in) in_drop(c);
            return;
        }
        if (used == 0) break;
    }
    if (off < len && c->state == CONN_HTTP) {        /* a partial request waits for more */
        if (from_in) {
            memmove(c->in, c->in + off, len - off);
            c->in_len = (uint32_t)(len - off);
        } else if (!in_append(c, buf + off, len - off)) {
            conn_kill(co, c);
        }
    } else if (from_in) {
        in_drop(c);
    }
}

/* ---- completions ---- */

void conn_on_accept(struct core *co, int32_t slot)
{
    struct conn *c = conn_alloc(co);
    if (!c) {                            /* cannot happen: the pool is as big as the table */
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_close_direct(sqe, (unsigned)slot);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        return;
    }
    c->slot = (uint32_t)slot;
    c->state = CONN_HTTP;
    stat_add(&co->stats.conns, 1);
    stat_add(&co->stats.accepted, 1);
    uint32_t total = atomic_fetch_add_explicit(&co->srv->conns, 1, memory_order_relaxed) + 1;
    list_push(co, c, LIST_HTTP);
    arm_recv(co, c);
    if (total > co->srv->max_conns) {
        c->flags |= CF_REJECT;
        stat_add(&co->stats.rejected, 1);
        static const char body[] = "{\"error\":\"server-full\",\"message\":\"connection limit reached\"}\n";
        conn_http_respond(co, c, NULL, 503, "application/json", body, sizeof body - 1, "Retry-After: 1\r\n");
    }
}

void conn_on_recv(struct core *co, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    struct conn *c = &co->conns[ud_idx(ud)];
    int res = cqe->res;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    uint8_t *data = has_buf ? co->bufs + (size_t)bid * co->buf_size : NULL;

    if (c->gen == ud_gen(ud) && c->state != CONN_FREE) {
        if (!more) c->flags &= ~CF_RECV;
        if (res > 0 && data && c->state == CONN_MOVING) {
            stat_add(&co->stats.bytes_in, (uint64_t)res);
            if (!handover_keep(c, data, (size_t)res)) conn_kill(co, c);
        } else if (res > 0 && data) {
            stat_add(&co->stats.bytes_in, (uint64_t)res);
            if (c->state == CONN_WS && (c->list == LIST_PINGED || core_stamp(co) - c->stamp >= 1000))
                list_push(co, c, LIST_WS);
            conn_feed(co, c, data, (size_t)res);
        } else if (res == 0) {
            c->flags |= CF_EOF;
            if (c->state == CONN_CLOSING) { /* flush what is queued, then close */ }
            else if (c->state == CONN_MOVING) conn_kill(co, c);
            else if (c->state == CONN_HTTP && !outq_empty(&c->q)) begin_close(co, c);
            else conn_kill(co, c);
        } else if (res == -ENOBUFS) {
            stat_add(&co->stats.enobufs, 1);
            if (!(c->flags & CF_STARVED) && c->state != CONN_DEAD && c->state != CONN_MOVING) {
                if (co->nstarved == co->starved_cap) {
                    uint32_t cap = co->starved_cap ? co->starved_cap * 2 : 256;
                    uint32_t *p = realloc(co->starved, cap * sizeof *p);
                    if (!p) { conn_kill(co, c); goto done; }
                    co->starved = p;
                    co->starved_cap = cap;
                }
                co->starved[co->nstarved++] = idx_of(co, c);
                c->flags |= CF_STARVED;
            }
        } else if (res < 0 && res != -ECANCELED) {
            conn_kill(co, c);
        }
        if (c->state == CONN_DEAD) maybe_free(co, c);
        else if (c->state == CONN_MOVING) handover_try(co, c);
        else if (!(c->flags & (CF_RECV | CF_STARVED | CF_EOF))) arm_recv(co, c);
    }
done:
    if (has_buf) {
        io_uring_buf_ring_add(co->br, data, co->buf_size, bid, io_uring_buf_ring_mask(co->nbufs),
                              (int)co->bufs_returned);
        co->bufs_returned++;
    }
}

void conn_on_send(struct core *co, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    struct conn *c = &co->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    c->flags &= ~CF_SEND;
    if (cqe->res < 0) {
        c->q.inflight_segs = 0;
        if (cqe->res != -ECANCELED && cqe->res != -EPIPE && cqe->res != -ECONNRESET)
            log_debug("send failed: %s", strerror(-cqe->res));
        conn_kill(co, c);
        return maybe_free(co, c);
    }
    stat_add(&co->stats.bytes_out, (uint64_t)cqe->res);
    outq_consume(&co->pool, &c->q, (size_t)cqe->res);
    if (c->state == CONN_DEAD) return maybe_free(co, c);
    if (!outq_empty(&c->q)) mark_dirty(co, c);
    else if (c->state == CONN_CLOSING) finish_close(co, c);
    else if (c->state == CONN_MOVING) handover_try(co, c);
}

void conn_on_shutdown(struct core *co, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    struct conn *c = &co->conns[ud_idx(ud)];
    if (c->gen != ud_gen(ud) || c->state == CONN_FREE) return;
    c->flags &= ~CF_SHUT_BUSY;
    maybe_free(co, c);
}

void conn_flush_dirty(struct core *co)
{
    uint32_t i = co->dirty_head;
    co->dirty_head = CONN_NIL;
    while (i != CONN_NIL) {
        struct conn *c = &co->conns[i];
        uint32_t next = c->link;
        c->flags &= ~CF_DIRTY;
        c->link = CONN_NIL;
        if (c->state == CONN_DEAD) maybe_free(co, c);
        else if (!(c->flags & CF_SEND) && !outq_empty(&c->q)) submit_send(co, c);
        i = next;
    }
}

void conn_rearm_starved(struct core *co)
{
    for (uint32_t k = 0; k < co->nstarved; k++) {
        struct conn *c = &co->conns[co->starved[k]];
        c->flags &= ~CF_STARVED;
        if (c->state == CONN_DEAD) maybe_free(co, c);
        else if (c->state == CONN_MOVING) handover_try(co, c);
        else if (!(c->flags & (CF_RECV | CF_EOF))) arm_recv(co, c);
    }
    co->nstarved = 0;
}

void conn_tick(struct core *co)
{
    uint32_t now = core_stamp(co);
    uint32_t hs = co->cfg->handshake_timeout_ms, half = co->cfg->idle_timeout_ms / 2;
    uint32_t i;
    while ((i = co->lists[LIST_HTTP].head) != CONN_NIL && now - co->conns[i].stamp >= hs) {
        struct conn *c = &co->conns[i];
        if (c->in_len) {              /* a request started and never finished */
            static const char msg[] = "408 Request Timeout\n";
            list_remove(co, c);
            conn_http_respond(co, c, NULL, 408, "text/plain", msg, sizeof msg - 1, NULL);
            if (c->list == LIST_NONE) conn_kill(co, c);
        } else {
            conn_kill(co, c);
        }
    }
    while ((i = co->lists[LIST_WS].head) != CONN_NIL && now - co->conns[i].stamp >= half) {
        struct conn *c = &co->conns[i];
        conn_send_frame(co, c, WS_OP_PING, NULL, 0);
        if (c->state == CONN_WS) list_push(co, c, LIST_PINGED);
    }
    while ((i = co->lists[LIST_PINGED].head) != CONN_NIL && now - co->conns[i].stamp >= half) {
        conn_ws_close(co, &co->conns[i], WS_CLOSE_GOING_AWAY, "idle timeout");
    }
    while ((i = co->lists[LIST_CLOSING].head) != CONN_NIL && now - co->conns[i].stamp >= hs) {
        conn_kill(co, &co->conns[i]);
    }
}

void conn_drain_all(struct core *co)
{
    static const char bye[] = "{\"type\":\"bye\",\"reason\":\"draining\"}";
    enum conn_list_id ids[] = { LIST_WS, LIST_PINGED };
    for (size_t k = 0; k < 2; k++) {
        uint32_t i;
        while ((i = co->lists[ids[k]].head) != CONN_NIL) {
            struct conn *c = &co->conns[i];
            if (c->route == ROUTE_WS) conn_send_frame(co, c, WS_OP_TEXT, bye, sizeof bye - 1);
            conn_ws_close(co, c, WS_CLOSE_GOING_AWAY, "server draining");
            if (c->list == ids[k]) list_remove(co, c);   /* could not close it: do not spin */
        }
    }
}

uint32_t conn_draining_count(const struct core *co)
{
    uint32_t n = 0;
    enum conn_list_id ids[] = { LIST_WS, LIST_PINGED, LIST_CLOSING };
    for (size_t k = 0; k < 3; k++)
        for (uint32_t i = co->lists[ids[k]].head; i != CONN_NIL; i = co->conns[i].next) n++;
    return n;
}

/* ---- moving between cores (handover.c) ---- */

bool conn_quiescent(const struct conn *c)
{
    return !(c->flags & (CF_RECV | CF_SEND)) && outq_empty(&c->q);
}

void conn_begin_move(struct core *co, struct conn *c)
{
    c->state = CONN_MOVING;
    list_remove(co, c);
    if ((c->flags & CF_RECV) && !(c->flags & CF_CANCELLED)) {
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_cancel64(sqe, ud_conn(UD_RECV, idx_of(co, c), c->gen), 0);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
    }
    handover_try(co, c);
}

void conn_moved_away(struct core *co, struct conn *c)
{
    if (c->session) {
        session_detach(co, c->session);
        c->session = NULL;
    }
    c->flags |= CF_MOVED;
    c->state = CONN_DEAD;
    maybe_free(co, c);
}

struct conn *conn_adopt(struct core *co, uint32_t slot, uint8_t state, uint8_t route)
{
    struct conn *c = conn_alloc(co);
    if (!c) {
        struct io_uring_sqe *sqe = core_sqe(co);
        io_uring_prep_close_direct(sqe, slot);
        io_uring_sqe_set_data64(sqe, ud_make(UD_IGNORE, 0));
        return NULL;
    }
    c->slot = slot;
    c->state = state;
    c->route = route;
    stat_add(&co->stats.conns, 1);
    if (state == CONN_WS) {
        c->flags |= CF_IS_WS;
        stat_add(&co->stats.ws_conns, 1);
        list_push(co, c, LIST_WS);
    } else {
        list_push(co, c, LIST_HTTP);
    }
    return c;
}

void conn_adopted(struct core *co, struct conn *c)
{
    if (c->state == CONN_MOVING) handover_try(co, c);
    else if (c->state == CONN_DEAD) maybe_free(co, c);
    else if (!(c->flags & (CF_RECV | CF_EOF))) arm_recv(co, c);
}
