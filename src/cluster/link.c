/* link.c: a Redis connection driven by the core's ring (see link.h). */
#include "cluster/link.h"

#include "config.h"
#include "log.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENT_RING 16384          /* timed commands in flight; a power of two */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

/* ---- timing of the commands in flight ---- */

static void sent_push(struct link *l)
{
    if (l->sent_count == SENT_RING) return;        /* untimed beyond the ring (link_command bounds it) */
    l->sent_ns[(l->sent_head + l->sent_count++) & (SENT_RING - 1)] = clock_ns();
}

static void sent_pop(struct link *l)
{
    if (!l->sent_count) return;
    hist_observe(&l->co->stats.redis_rtt, clock_ns() - l->sent_ns[l->sent_head]);
    l->sent_head = (l->sent_head + 1) & (SENT_RING - 1);
    l->sent_count--;
}

/* ---- hiredis's event hooks ---- */

static void ev_add_read(void *p) { ((struct link *)p)->want_read = true; }
static void ev_del_read(void *p) { ((struct link *)p)->want_read = false; }
static void ev_add_write(void *p) { ((struct link *)p)->want_write = true; }
static void ev_del_write(void *p) { ((struct link *)p)->want_write = false; }

/* hiredis is freeing the context: the poll in flight must not outlive it. */
static void ev_cleanup(void *p)
{
    struct link *l = p;
    if (l->poll_armed) {
        struct io_uring_sqe *sqe = core_sqe(l->co);
        io_uring_prep_poll_remove(sqe, ud_conn(UD_REDIS, l->idx, l->gen));
        sqe->user_data = ud_make(UD_IGNORE, 0);
        l->poll_armed = false;
    }
    l->gen++;                    /* a completion of the old poll is ignored */
    l->want_read = l->want_write = false;
}

/* The connection is gone (idempotent): schedule the next attempt, tell the owner. */
static void went_down(struct link *l, const char *why)
{
    enum link_state was = l->state;
    l->ac = NULL;
    l->state = LINK_DOWN;
    l->sent_head = l->sent_count = 0;
    l->next_attempt_ms = l->co->now_ms + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
    if (was == LINK_UP) {
        log_warn("redis %s:%d: link lost (%s); reconnecting", l->host, l->port, why);
        l->on_event(l->arg, false);
    } else if (was == LINK_CONNECTING) {
        log_debug("redis %s:%d: cannot connect (%s); retrying in %u ms", l->host, l->port, why, l->backoff_ms);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    if (status != REDIS_OK) went_down(l, ac->errstr);   /* hiredis frees the context */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    went_down(l, l->drop_why ? l->drop_why : status == REDIS_OK ? "closed" : ac->errstr);
}

/* ---- commands ---- */

struct pending_cmd {
    struct link *l;
    link_reply_fn fn;
    void *arg, *privdata;
};

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct pending_cmd *pc = privdata;
    (void)ac;
    if (reply) sent_pop(pc->l);
    pc->fn(pc->arg, reply, pc->privdata);
    free(pc);
}

bool link_command(struct link *l, link_reply_fn fn, void *arg, void *privdata, int argc, const char **argv,
                  const size_t *lens)
{
    if (!l->ac || l->state == LINK_DOWN || l->sent_count >= SENT_RING) return false;
    struct pending_cmd *pc = malloc(sizeof *pc);
    if (!pc) return false;
    *pc = (struct pending_cmd){ l, fn, arg, privdata };
    if (redisAsyncCommandArgv(l->ac, on_reply, pc, argc, argv, lens) != REDIS_OK) {
        free(pc);
        return false;
    }
    sent_push(l);
    return true;
}

/* Confirmations and messages of every channel of a subscriber link. */
static void on_channel_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct link *l = privdata;
    (void)ac;
    redisReply *r = reply;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[0]->str[0] != 'm')        /* "subscribe" / "unsubscribe", not "message" */
        sent_pop(l);
    l->on_channel(l->arg, r, NULL);
}

static bool channel_command(struct link *l, const char *verb, const char *channel, size_t len)
{
    if (!l->ac || l->state != LINK_UP || !l->on_channel || l->sent_count >= SENT_RING) return false;
    const char *argv[2] = { verb, channel };
    size_t lens[2] = { strlen(verb), len };
    if (redisAsyncCommandArgv(l->ac, on_channel_reply, l, 2, argv, lens) != REDIS_OK) return false;
    sent_push(l);
    return true;
}

bool link_subscribe(struct link *l, const char *channel, size_t len)
{
    return channel_command(l, "SUBSCRIBE", channel, len);
}

bool link_unsubscribe(struct link *l, const char *channel, size_t len)
{
    return channel_command(l, "UNSUBSCRIBE", channel, len);
}

/* ---- connecting ---- */

/* The first reply (PING, or SELECT db) on a new connection: it is usable. */
static void on_hello(void *arg, redisReply *reply, void *privdata)
{
    struct link *l = arg;
    (void)privdata;
    if (!reply) return;                              /* went_down ran already */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis %s:%d: %s", l->host, l->port, reply->str);
        link_drop(l, "handshake refused");
        return;
    }
    if (l->reconnects++) log_info("redis %s:%d: link restored", l->host, l->port);
    else log_info("redis %s:%d: connected", l->host, l->port);
    if (l->reconnects > 1) stat_add(&l->co->stats.redis_reconnects, 1);
    l->state = LINK_UP;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->on_event(l->arg, true);
}

static void connect_now(struct link *l)
{
    redisAsyncContext *ac = redisAsyncConnect(l->host, l->port);
    if (!ac || ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        l->state = LINK_CONNECTING;                  /* so went_down reports it */
        went_down(l, why);
        return;
    }
    ac->data = l;
    ac->ev.data = l;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    l->state = LINK_CONNECTING;
    l->want_write = true;                            /* the connect completes on writability */
    char dbs[16];
    int n = snprintf(dbs, sizeof dbs, "%d", l->db);
    const char *argv[2] = { l->db ? "SELECT" : "PING", dbs };
    size_t lens[2] = { l->db ? 6u : 4u, (size_t)n };
    struct pending_cmd *pc = malloc(sizeof *pc);
    if (pc) *pc = (struct pending_cmd){ l, on_hello, l, NULL };
    if (!pc || redisAsyncCommandArgv(ac, on_reply, pc, l->db ? 2 : 1, argv, lens) != REDIS_OK) {
        free(pc);
        link_drop(l, "out of memory");
        return;
    }
    sent_push(l);
}

/* ---- the loop's side ---- */

int link_init(struct link *l, struct core *co, uint32_t idx, const char *uri, uint32_t timeout_ms,
              link_event_fn on_event, link_reply_fn on_channel, void *arg)
{
    memset(l, 0, sizeof *l);
    if (!config_parse_redis_uri(uri, l->host, sizeof l->host, &l->port, &l->db)) return -EINVAL;
    l->co = co;
    l->idx = idx;
    l->timeout_ms = timeout_ms;
    l->on_event = on_event;
    l->on_channel = on_channel;
    l->arg = arg;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->sent_ns = calloc(SENT_RING, sizeof *l->sent_ns);
    return l->sent_ns ? 0 : -ENOMEM;
}

void link_free(struct link *l)
{
    l->on_event = NULL;
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->state = LINK_DOWN;                        /* no event for the owner: it is going away */
        redisAsyncSetDisconnectCallback(ac, NULL);
        l->ac = NULL;
        redisAsyncFree(ac);
    }
    free(l->sent_ns);
    l->sent_ns = NULL;
}

void link_drop(struct link *l, const char *why)
{
    if (!l->ac) return;
    redisAsyncContext *ac = l->ac;
    /* pending callbacks get NULL, then on_disconnect (only if the connection was made) */
    l->drop_why = why;
    redisAsyncFree(ac);
    l->drop_why = NULL;
    if (l->ac == ac) went_down(l, why);
}

void link_on_cqe(struct link *l, struct io_uring_cqe *cqe)
{
    if (ud_gen(cqe->user_data) != l->gen || !l->ac) return;   /* a poll of a connection gone */
    l->poll_armed = false;
    if (cqe->res < 0) return;
    redisAsyncContext *ac = l->ac;
    if (cqe->res & (POLLOUT | POLLERR | POLLHUP)) redisAsyncHandleWrite(ac);
    if (l->ac == ac && (cqe->res & (POLLIN | POLLERR | POLLHUP))) redisAsyncHandleRead(ac);
}

void link_flush(struct link *l)
{
    if (l->state == LINK_DOWN && l->next_attempt_ms == 0) connect_now(l);   /* the first turn connects */
    if (!l->ac) return;
    redisAsyncContext *ac = l->ac;
    if (l->want_write && (ac->c.flags & REDIS_CONNECTED)) redisAsyncHandleWrite(ac);
    if (l->ac != ac || l->poll_armed) return;
    uint32_t mask = POLLIN;
    if (l->want_write) mask |= POLLOUT;      /* connecting, or the socket buffer was full */
    struct io_uring_sqe *sqe = core_sqe(l->co);
    io_uring_prep_poll_add(sqe, ac->c.fd, mask);
    sqe->user_data = ud_conn(UD_REDIS, l->idx, l->gen);
    l->poll_armed = true;
    l->poll_mask = mask;
}

void link_tick(struct link *l)
{
    uint64_t now = l->co->now_ms;
    if (l->state == LINK_DOWN) {
        if (now >= l->next_attempt_ms) connect_now(l);
        return;
    }
    if (l->sent_count && (clock_ns() - l->sent_ns[l->sent_head]) / 1000000 > l->timeout_ms) {
        char why[96];
        snprintf(why, sizeof why, "no reply for %u ms", l->timeout_ms);
        link_drop(l, why);
    } else if (l->want_write && l->ac && (l->ac->c.flags & REDIS_CONNECTED) && l->poll_armed &&
               !(l->poll_mask & POLLOUT)) {
        redisAsyncHandleWrite(l->ac);        /* output left over while only reading was polled */
    }
}
