/* api.c: see api.h. */
#include "api.h"

#include "handover.h"
#include "metrics.h"
#include "room.h"
#include "room_cluster.h"
#include "shard.h"
#include "store/store.h"
#include "webfiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void not_found(struct app *app, struct conn *c, const struct http_request *req)
{
    static const char body[] = "{\"error\":\"not-found\",\"message\":\"no such resource\"}\n";
    conn_http_respond(app->cc, c, req, 404, "application/json", body, sizeof body - 1, NULL);
}

static bool method_allowed(struct app *app, struct conn *c, const struct http_request *req)
{
    if (req->method == METHOD_GET || req->method == METHOD_HEAD) return true;
    static const char body[] = "{\"error\":\"method-not-allowed\",\"message\":\"use GET or HEAD\"}\n";
    conn_http_respond(app->cc, c, req, 405, "application/json", body, sizeof body - 1, "Allow: GET, HEAD\r\n");
    return false;
}

static void health(struct app *app, struct conn *c, const struct http_request *req)
{
    const struct app_shared *s = app->shared;
    const struct core_group *g = s->group;
    uint64_t conns = 0, ws = 0;
    for (uint32_t i = 0; i < g->ncores; i++) {
        conns += stat_get(&g->cores[i].stats.conns);
        ws += stat_get(&g->cores[i].stats.ws_conns);
    }
    bool draining = core_draining(app->co), degraded = store_degraded(s->store);
    /* --redis: "up" when every core's links are; while "down" ops are refused and chat
     * reaches this instance's members only */
    uint64_t redis_up = 0;
    for (uint32_t i = 0; i < g->ncores; i++) redis_up += stat_get(&g->cores[i].stats.redis_up);
    const char *redis = !s->cfg->redis[0] ? "off" : redis_up == g->ncores ? "up" : "down";
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%llu,\"connections\":%llu,"
                     "\"websockets\":%llu,\"rooms\":%u,\"threads\":%u,\"redis\":\"%s\"%s}\n",
                     draining ? "draining" : degraded ? "degraded" : "ok", s->version,
                     (unsigned long long)((app->co->now_ms - s->start_ms) / 1000), (unsigned long long)conns,
                     (unsigned long long)ws, atomic_load_explicit(&s->rooms, memory_order_relaxed), g->ncores, redis,
                     redis[0] == 'd' ? ",\"chat\":\"local\"" : "");
    conn_http_respond(app->cc, c, req, draining ? 503 : 200, "application/json", body, (size_t)n,
                      "Cache-Control: no-store\r\n");
}

static void static_file(struct app *app, struct conn *c, const struct http_request *req, struct http_slice path)
{
    const struct webfile *f = webfiles_find(app->shared->web, path.p, path.n);
    if (!f) return not_found(app, c, req);
    char extra[256];
    snprintf(extra, sizeof extra, "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n",
             f->etag, f->cache_control);
    if (req->if_none_match.p && req->if_none_match.n == strlen(f->etag) &&
        !memcmp(req->if_none_match.p, f->etag, req->if_none_match.n)) {
        /* 304 has no body; Content-Length 0 is what we send */
        conn_http_respond(app->cc, c, req, 304, f->content_type, NULL, 0, extra);
        return;
    }
    conn_http_respond(app->cc, c, req, 200, f->content_type, f->data, f->len, extra);
}

static void json_error(struct app *app, struct conn *c, const struct http_request *req, int status,
                       const char *code, const char *message)
{
    char body[512];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}\n", code, message);
    conn_http_respond(app->cc, c, req, status, "application/json", body, (size_t)n, "Cache-Control: no-store\r\n");
}

/* Requests about a room are answered by the core that owns it. True if this core is not
 * the owner and the request has been dealt with: handed over to the owner, or refused
 * (draining, out of memory). */
static bool route_to_owner(struct app *app, struct conn *c, const struct http_request *req, struct http_slice name)
{
    uint32_t owner = shard_owner(name.p, name.n, app->co->group->ncores);
    if (owner == (uint32_t)app->co->id) return false;
    if (core_draining(app->co))
        json_error(app, c, req, 503, "draining", "server is shutting down");
    else if (handover_start(app->cc, c, owner, NULL, 0) != 0)
        json_error(app, c, req, 500, "internal", "out of memory");
    return true;
}

/* --redis: a room with no participant and no op answers 404 (as an unknown room does on a
 * single instance), whatever instance is asked. */
static bool room_empty(const struct room *rm)
{
    return rm && doc_rev(rm->doc) == 0 && rm->nmembers == 0 && rm->nremote == 0;
}

/* GET /rooms/<room>: answered by the room's owner; other cores hand the request over. */
static void room_info_answer(struct app *app, struct conn *c, const struct http_request *req, struct http_slice name,
                             const struct room *rm)
{
    jw *w = &app->out;
    if (room_empty(rm) || !room_describe(app, w, name.p, name.n))
        return json_error(app, c, req, 404, "not-found", "no such room");
    if (w->oom) return json_error(app, c, req, 500, "internal", "out of memory");
    conn_http_respond(app->cc, c, req, 200, "application/json", w->buf, w->len, "Cache-Control: no-store\r\n");
}

/* A decimal query parameter in [min, max]; false if present and malformed or out of range. */
static bool query_u64(const struct http_request *req, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    struct http_slice v;
    if (!http_query_get(req->query, key, &v)) return true;
    if (v.n == 0 || v.n > 19) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return false;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (x < min || x > max) return false;
    *out = x;
    return true;
}

#define HISTORY_DEFAULT_LIMIT 100
#define HISTORY_MAX_LIMIT 10000

/* GET /history/<room>?limit=N&since=REV: the durable ops after REV, from the owner's memory
 * (the last --history-window ops of each room; docs/persistence.md). */
static void history_answer(struct app *app, struct conn *c, const struct http_request *req, struct http_slice name,
                           uint64_t since, uint64_t limit, const struct room *rm)
{
    struct store_room *sr = store_room_get(app->store, name.p, name.n, false);
    if (!sr || room_empty(rm)) return json_error(app, c, req, 404, "not-found", "no such room");
    /* --redis: an op in the document is committed in Redis (which persists it) and acked by
     * its instance once durable there: every instance lists the same ops */
    uint64_t durable = app->bus ? doc_rev(store_room_doc(sr)) : store_room_durable_rev(sr);
    uint64_t oldest = store_room_oldest_op(sr);
    if (since + 1 < oldest && since < durable) {
        char msg[160];
        snprintf(msg, sizeof msg, "ops before rev %llu are not kept in memory (--history-window); ask with since >= %llu",
                 (unsigned long long)oldest, (unsigned long long)(oldest - 1));
        return json_error(app, c, req, 410, "history-truncated", msg);
    }
    jw *w = &app->out;
    jw_reset(w);
    jw_lit(w, "{\"room\":");
    jw_str(w, name.p, name.n);
    jw_lit(w, ",\"rev\":");
    jw_uint(w, durable);
    jw_lit(w, ",\"ops\":[");
    uint64_t n = 0;
    for (uint64_t r = since + 1; r <= durable && n < limit; r++, n++) {
        const struct store_op *o = store_room_op(sr, r);
        if (!o) break;
        if (n) jw_char(w, ',');
        jw_lit(w, "{\"rev\":");
        jw_uint(w, o->rev);
        jw_lit(w, ",\"op\":");
        jw_raw(w, o->op, o->op_len);
        jw_lit(w, ",\"from\":");
        jw_str(w, o->from, o->from_len);
        jw_lit(w, ",\"ts\":");
        jw_uint(w, o->ts);
        jw_char(w, '}');
    }
    jw_lit(w, "]}\n");
    if (w->oom) return json_error(app, c, req, 500, "internal", "out of memory");
    conn_http_respond(app->cc, c, req, 200, "application/json", w->buf, w->len, "Cache-Control: no-store\r\n");
}

/* --redis: a request about a room waits (here, off the loop) until the owner core's copy of
 * the room is current with Redis; what the answer needs of the request is kept. A client
 * that pipelines another request on the connection meanwhile gets that one answered first. */
enum room_route { ROOM_ROUTE_INFO, ROOM_ROUTE_HISTORY };
struct deferred_request {
    struct conn_ref ref;
    enum room_route route;
    bool keep_alive, head;
    uint64_t since, limit;
    size_t len;
    char name[ROOM_NAME_MAX];
};

static void answer(struct app *app, struct conn *c, const struct http_request *req, enum room_route route,
                   struct http_slice name, uint64_t since, uint64_t limit, const struct room *rm)
{
    if (route == ROOM_ROUTE_INFO) room_info_answer(app, c, req, name, rm);
    else history_answer(app, c, req, name, since, limit, rm);
}

static void answer_deferred(struct app *app, void *ctx, struct room *rm)
{
    struct deferred_request *d = ctx;
    struct conn *c = conn_deref_http(app->cc, d->ref);
    if (c) {
        struct http_request req = { .method = d->head ? METHOD_HEAD : METHOD_GET, .keep_alive = d->keep_alive };
        answer(app, c, &req, d->route, (struct http_slice){ d->name, d->len }, d->since, d->limit, rm);
    }
    free(d);
}

static void room_request(struct app *app, struct conn *c, const struct http_request *req, enum room_route route,
                         struct http_slice name, uint64_t since, uint64_t limit)
{
    if (route_to_owner(app, c, req, name)) return;
    if (!app->bus) return answer(app, c, req, route, name, since, limit, NULL);
    struct deferred_request *d = malloc(sizeof *d);
    if (!d) return json_error(app, c, req, 500, "internal", "out of memory");
    *d = (struct deferred_request){ .ref = conn_ref_of(app->cc, c), .route = route, .keep_alive = req->keep_alive,
                                    .head = req->method == METHOD_HEAD, .since = since, .limit = limit, .len = name.n };
    memcpy(d->name, name.p, name.n);
    room_cluster_when_current(app, d->name, d->len, answer_deferred, d);
}

static void room_info(struct app *app, struct conn *c, const struct http_request *req, struct http_slice name)
{
    if (!shard_name_valid(name.p, name.n))
        return json_error(app, c, req, 400, "bad-room", "room must be 1-128 characters of [A-Za-z0-9._-]");
    room_request(app, c, req, ROOM_ROUTE_INFO, name, 0, 0);
}

static void history(struct app *app, struct conn *c, const struct http_request *req, struct http_slice name)
{
    if (!shard_name_valid(name.p, name.n))
        return json_error(app, c, req, 400, "bad-room", "room must be 1-128 characters of [A-Za-z0-9._-]");
    uint64_t limit = HISTORY_DEFAULT_LIMIT, since = 0;
    if (!query_u64(req, "limit", 1, HISTORY_MAX_LIMIT, &limit))
        return json_error(app, c, req, 400, "bad-param", "limit must be an integer from 1 to 10000");
    if (!query_u64(req, "since", 0, UINT64_MAX / 2, &since))
        return json_error(app, c, req, 400, "bad-param", "since must be an integer revision >= 0");
    room_request(app, c, req, ROOM_ROUTE_HISTORY, name, since, limit);
}

static void metrics(struct app *app, struct conn *c, const struct http_request *req)
{
    jw *w = &app->out;
    jw_reset(w);
    metrics_write(app->shared, w, app->co->now_ms);
    if (w->oom) {
        static const char body[] = "out of memory\n";
        conn_http_respond(app->cc, c, req, 500, "text/plain", body, sizeof body - 1, NULL);
        return;
    }
    conn_http_respond(app->cc, c, req, 200, "text/plain; version=0.0.4; charset=utf-8", w->buf, w->len,
                      "Cache-Control: no-store\r\n");
}

/* WebSocket upgrades: /ws speaks protocol v1 (proto.c), /echo echoes (app_entry.c). */
static void upgrade(struct app *app, struct conn *c, const struct http_request *req, enum app_kind kind)
{
    if (core_draining(app->co)) {
        static const char body[] = "{\"error\":\"draining\",\"message\":\"server is shutting down\"}\n";
        return conn_http_respond(app->cc, c, req, 503, "application/json", body, sizeof body - 1,
                                 "Retry-After: 1\r\n");
    }
    conn_upgrade(app->cc, c, req, (uint8_t)kind);
}

/* The route table: a path, or a prefix ending in '/' whose rest (non-empty) is the handler's
 * argument; anything else is a file of the web page. Upgrades check their own method (the
 * handshake answers 405); the other routes take GET and HEAD. */
enum route_kind { ROUTE_UPGRADE_WS, ROUTE_UPGRADE_ECHO, ROUTE_HEALTH, ROUTE_METRICS, ROUTE_HISTORY, ROUTE_ROOMS };
static const struct { const char *path; enum route_kind kind; } routes[] = {
    { "/health", ROUTE_HEALTH },
    { "/metrics", ROUTE_METRICS },
    { "/ws", ROUTE_UPGRADE_WS },
    { "/echo", ROUTE_UPGRADE_ECHO },
    { "/history/", ROUTE_HISTORY },
    { "/rooms/", ROUTE_ROOMS },
};

void api_handle(struct app *app, struct conn *c, const struct http_request *req)
{
    struct http_slice arg;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!http_path_match(req->path, routes[i].path, &arg)) continue;
        enum route_kind kind = routes[i].kind;
        if (kind == ROUTE_UPGRADE_WS) return upgrade(app, c, req, APP_KIND_WS);
        if (kind == ROUTE_UPGRADE_ECHO) return upgrade(app, c, req, APP_KIND_ECHO);
        if (!method_allowed(app, c, req)) return;
        switch (kind) {
        case ROUTE_HEALTH: return health(app, c, req);
        case ROUTE_METRICS: return metrics(app, c, req);
        case ROUTE_HISTORY: return history(app, c, req, arg);
        case ROUTE_ROOMS: return room_info(app, c, req, arg);
        default: return not_found(app, c, req);
        }
    }
    struct http_slice path = req->path;
    if (path.n > 1 && !webfiles_find(app->shared->web, path.p, path.n)) return not_found(app, c, req);
    if (!method_allowed(app, c, req)) return;
    static_file(app, c, req, path);
}
