/* rig.c: a real core, transport, application and store for unit tests (see rig.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* json.h (through app.h) before jansson.h (through rig.h) */
#include "app_entry.h"
#include "conn.h"
#include "core.h"
#include "handover.h"
#include "log.h"
#include "store/store.h"
#include "ws.h"

#include "rig.h"

#define RIG_MAX_CLIENTS 16

struct client {
    struct rig *r;
    char name[16];
    uint32_t core;
    int fd;                       /* our end; -1 once hung up */
    struct conn_ref ref;          /* the server's end */
    uint8_t *out;                 /* frames not yet written */
    size_t out_len, out_cap;
    uint32_t mask_seed;
    struct ws_reader rd;
    json_t **msgs;                /* arrived, not taken */
    size_t nmsgs, msgs_cap;
    json_t *cur;                  /* the last one client_next returned */
    bool eof;
};

struct rig {
    struct config cfg;
    char dir[64];
    uint32_t ncores;
    struct core_group group;
    struct core cores[RIG_MAX_CORES];
    struct conn_core cc[RIG_MAX_CORES];
    struct app app[RIG_MAX_CORES];
    struct conn_shared conns;
    struct app_shared shared;
    struct store *st;
    uint32_t next_slot[RIG_MAX_CORES];    /* slots are taken from the top of the table down */
    struct client *clients[RIG_MAX_CLIENTS];
    uint32_t nclients;
};

void rig_config(struct config *cfg)
{
    config_defaults(cfg);
    cfg->log_level = LOG_WARN;
}

/* The store's hooks on the loop, as server.c registers them. */
static uint32_t store_turn(void *sc) { return store_flush(sc); }
static void store_tick_hook(void *sc) { store_tick(sc); }
static void store_cqe(void *sc, struct io_uring_cqe *cqe) { store_on_cqe(sc, cqe); }

struct rig *rig_open(const struct config *cfg, uint32_t ncores)
{
    assert_true(ncores >= 1 && ncores <= RIG_MAX_CORES);
    struct rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->cfg = *cfg;
    r->ncores = ncores;
    log_set_level((enum log_level)cfg->log_level);
    strcpy(r->dir, "/tmp/ringroom-unit-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->cfg.data_dir, sizeof r->cfg.data_dir, "%s", r->dir);
    char err[512] = "";
    if (store_open(&r->st, &r->cfg, ncores, err, sizeof err) != STORE_OPEN_OK) fail_msg("store_open: %s", err);

    r->group.ncores = ncores;
    r->group.cores = r->cores;
    r->conns.max_conns = ncores * RIG_TABLE_SIZE;
    r->shared.cfg = &r->cfg;
    r->shared.version = "unit";
    r->shared.group = &r->group;
    r->shared.start_ms = clock_ms();
    r->shared.store = r->st;              /* no web files: the rig speaks WebSocket only */
    for (uint32_t i = 0; i < ncores; i++) {
        struct core *co = &r->cores[i];
        co->id = (int)i;
        co->group = &r->group;
        co->cpu = -1;                     /* not pinned */
        co->listen_fd = -1;
        co->table_size = RIG_TABLE_SIZE;
        r->next_slot[i] = RIG_TABLE_SIZE - 1;
        struct store_core *sc = store_core_of(r->st, i);
        struct conn_handler handler = app_conn_handler(&r->app[i]);
        assert_int_equal(core_init(co), 0);
        assert_int_equal(conn_core_init(&r->cc[i], co, &r->cfg, &r->conns, &handler), 0);
        handover_init(&r->cc[i]);
        assert_int_equal(app_init(&r->app[i], &r->cc[i], &r->shared, sc), 0);
        conn_core_hooks(&r->cc[i]);
        core_on_turn(co, store_turn, sc);
        core_on_tick(co, store_tick_hook, sc);
        core_on_cqe(co, UD_STORE, store_cqe, sc);
    }
    return r;
}

static void client_free(struct client *cl)
{
    if (cl->fd >= 0) close(cl->fd);
    free(cl->out);
    ws_reader_reset(&cl->rd);
    for (size_t i = 0; i < cl->nmsgs; i++) json_decref(cl->msgs[i]);
    free(cl->msgs);
    json_decref(cl->cur);
    free(cl);
}

void rig_close(struct rig *r)
{
    if (!r) return;
    for (uint32_t i = 0; i < r->ncores; i++) {          /* as worker_main after its loop */
        conn_core_finish(&r->cc[i]);
        store_core_finish(store_core_of(r->st, i));
    }
    for (uint32_t i = 0; i < r->ncores; i++) {
        conn_core_free(&r->cc[i]);
        app_free(&r->app[i]);
        core_free(&r->cores[i]);
    }
    store_close(r->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
    if (system(cmd) != 0) fprintf(stderr, "rig: could not remove %s\n", r->dir);
    for (uint32_t i = 0; i < r->nclients; i++) client_free(r->clients[i]);
    free(r);
}

int rig_teardown(void **state)
{
    rig_close(*state);
    *state = NULL;
    return 0;
}

struct app *rig_app(struct rig *r, uint32_t core)
{
    assert_true(core < r->ncores);
    return &r->app[core];
}

const struct config *rig_cfg(const struct rig *r) { return &r->cfg; }

/* ---- client I/O ---- */

static void client_write(struct client *cl)
{
    while (cl->fd >= 0 && cl->out_len) {
        ssize_t n = send(cl->fd, cl->out, cl->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            fail_msg("client %s: send: %s", cl->name, strerror(errno));
        }
        memmove(cl->out, cl->out + n, cl->out_len - (size_t)n);
        cl->out_len -= (size_t)n;
    }
}

static void client_push(struct client *cl, json_t *msg)
{
    if (cl->nmsgs == cl->msgs_cap) {
        cl->msgs_cap = cl->msgs_cap ? 2 * cl->msgs_cap : 16;
        cl->msgs = realloc(cl->msgs, cl->msgs_cap * sizeof *cl->msgs);
        assert_non_null(cl->msgs);
    }
    cl->msgs[cl->nmsgs++] = msg;
}

static void client_on_frame(struct client *cl, const struct ws_event *ev)
{
    if (ev->type == WS_EV_MESSAGE) {
        if (ev->opcode != WS_OP_TEXT) fail_msg("client %s: the server sent a binary message", cl->name);
        json_error_t je;
        json_t *msg = json_loadb((const char *)ev->data, ev->len, 0, &je);
        if (!msg || !json_is_object(msg))
            fail_msg("client %s: not a JSON object: %.*s", cl->name, (int)ev->len, (const char *)ev->data);
        client_push(cl, msg);
    } else if (ev->type == WS_EV_CLOSE) {
        fail_msg("client %s: the server closed the connection (%u)", cl->name, ev->code);
    } else if (ev->type == WS_EV_ERROR) {
        fail_msg("client %s: bad frame from the server: %s", cl->name, ev->why);
    }
}

static void client_read(struct client *cl)
{
    static const struct ws_limits lim = { .max_frame = 1ull << 30, .max_message = 1ull << 30, .peer_masks = false };
    uint8_t buf[65536];
    while (cl->fd >= 0 && !cl->eof) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            fail_msg("client %s: recv: %s", cl->name, strerror(errno));
        }
        if (n == 0) {
            cl->eof = true;
            return;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used;
            struct ws_event ev;
            ws_reader_next(&cl->rd, &lim, buf + off, (size_t)n - off, &used, &ev);
            client_on_frame(cl, &ev);
            off += used ? used : (size_t)n - off;
        }
    }
}

void rig_turn(struct rig *r)
{
    for (uint32_t i = 0; i < r->nclients; i++) client_write(r->clients[i]);
    for (uint32_t i = 0; i < r->ncores; i++) core_turn(&r->cores[i], 10 / r->ncores);
    for (uint32_t i = 0; i < r->nclients; i++) client_read(r->clients[i]);
}

void rig_turns(struct rig *r, int n)
{
    for (int i = 0; i < n; i++) rig_turn(r);
}

struct client *rig_connect(struct rig *r, uint32_t core, const char *name)
{
    assert_true(core < r->ncores);
    assert_true(r->nclients < RIG_MAX_CLIENTS);
    struct client *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    r->clients[r->nclients++] = cl;
    cl->r = r;
    cl->core = core;
    snprintf(cl->name, sizeof cl->name, "%s", name);
    cl->mask_seed = 0x9e3779b9u * (r->nclients + 1);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cl->fd = sv[0];
    /* the server's end goes into the ring's fixed-file table (the ring keeps its own reference) */
    struct core *co = &r->cores[core];
    uint32_t slot = r->next_slot[core]--;
    int srv = sv[1];
    assert_int_equal(io_uring_register_files_update(&co->ring, slot, &srv, 1), 1);
    close(sv[1]);
    struct conn *c = conn_adopt(&r->cc[core], slot, CONN_WS, APP_KIND_WS);
    assert_non_null(c);
    /* conn_adopt is the handover's target side: the source counted the connection; we are its
     * accept, so count it here (maybe_free uncounts it) */
    atomic_fetch_add(&r->conns.conns, 1);
    cl->ref = conn_ref_of(&r->cc[core], c);
    conn_adopted(&r->cc[core], c);
    return cl;
}

struct conn *client_conn(struct client *cl)
{
    return conn_deref(&cl->r->cc[cl->core], cl->ref);
}

void client_hangup(struct client *cl)
{
    assert_true(cl->fd >= 0);
    close(cl->fd);
    cl->fd = -1;
}

void client_send_frame(struct client *cl, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[WS_MAX_HEADER];
    uint32_t seed = cl->mask_seed = cl->mask_seed * 1103515245u + 12345u;
    uint8_t mask[4] = { (uint8_t)(seed >> 24), (uint8_t)(seed >> 16), (uint8_t)(seed >> 8), (uint8_t)seed | 1 };
    size_t hl = ws_frame_header(hdr, opcode, true, len, mask);
    size_t need = cl->out_len + hl + len;
    if (need > cl->out_cap) {
        cl->out_cap = need * 2;
        cl->out = realloc(cl->out, cl->out_cap);
        assert_non_null(cl->out);
    }
    memcpy(cl->out + cl->out_len, hdr, hl);
    if (len) memcpy(cl->out + cl->out_len + hl, payload, len);
    ws_mask(cl->out + cl->out_len + hl, len, mask, 0);
    cl->out_len = need;
}

void client_send(struct client *cl, const char *json)
{
    client_send_frame(cl, WS_OP_TEXT, json, strlen(json));
}

void client_sendf(struct client *cl, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof buf);
    client_send(cl, buf);
}

size_t client_pending(const struct client *cl) { return cl->nmsgs; }

/* Fails the running test at the caller's line. */
static void rig_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void rig_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    _fail(file, line);
    abort();                                             /* _fail longjmps out of the test */
}

json_t *client_next_at(struct client *cl, const char *file, int line)
{
    json_decref(cl->cur);
    cl->cur = NULL;
    for (int t = 0; cl->nmsgs == 0; t++) {
        if (t == RIG_MAX_TURNS) rig_fail(file, line, "client %s: no message within %d turns", cl->name, RIG_MAX_TURNS);
        rig_turn(cl->r);
    }
    cl->cur = cl->msgs[0];
    memmove(cl->msgs, cl->msgs + 1, --cl->nmsgs * sizeof *cl->msgs);
    return cl->cur;
}

json_t *client_expect_at(struct client *cl, const char *type, const char *file, int line)
{
    json_t *m = client_next_at(cl, file, line);
    const char *t = json_string_value(json_object_get(m, "type"));
    if (!t || strcmp(t, type)) rig_fail(file, line, "client %s: expected a `%s`, got %s", cl->name, type, jdump(m));
    return m;
}

json_t *client_expect_error_at(struct client *cl, const char *code, const char *ref, const char *file, int line)
{
    json_t *m = client_expect_at(cl, "error", file, line);
    const char *c = json_string_value(json_object_get(m, "code"));
    json_t *rf = json_object_get(m, "ref");
    bool ref_ok = ref ? json_is_string(rf) && !strcmp(json_string_value(rf), ref) : json_is_null(rf);
    if (!c || strcmp(c, code) || !ref_ok || !json_is_string(json_object_get(m, "message")))
        rig_fail(file, line, "client %s: expected error %s (ref %s), got %s", cl->name, code, ref ? ref : "null",
                 jdump(m));
    return m;
}

void client_none_at(struct client *cl, int turns, const char *file, int line)
{
    rig_turns(cl->r, turns);
    if (cl->nmsgs) rig_fail(file, line, "client %s: unexpected %s", cl->name, jdump(cl->msgs[0]));
}

void client_barrier_at(struct client *cl, const char *file, int line)
{
    client_send(cl, "{\"type\":\"rig-barrier\"}");
    client_expect_error_at(cl, "unknown-type", NULL, file, line);
}

json_t *client_join_at(struct client *cl, const char *room, const char *file, int line)
{
    client_sendf(cl, "{\"type\":\"join\",\"room\":\"%s\",\"user\":{\"id\":\"%s\",\"name\":\"%s\"}}", room, cl->name,
                 cl->name);
    json_t *m = client_expect_at(cl, "joined", file, line);
    if (strcmp(jstr_at(m, "room", file, line), room)) rig_fail(file, line, "joined another room: %s", jdump(m));
    return m;
}

/* ---- reading messages ---- */

const char *jstr_at(const json_t *o, const char *key, const char *file, int line)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) rig_fail(file, line, "no string `%s` in %s", key, jdump(o));
    return s;
}

json_int_t jint_at(const json_t *o, const char *key, const char *file, int line)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) rig_fail(file, line, "no integer `%s` in %s", key, jdump(o));
    return json_integer_value(v);
}

const char *jdump(const json_t *o)
{
    static char buf[2048];
    if (!o) return "(nothing)";
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    snprintf(buf, sizeof buf, "%s", s ? s : "(unencodable)");
    free(s);
    return buf;
}
