/* proto.c: client messages on /ws, parsed and checked, then handed to the room layer
 * (see proto.h and docs/protocol.md).
 *
 * Nothing here allocates per message: tokens, the op being parsed and the unescape buffer
 * belong to the core and are reused.
 */
#include "proto.h"

#include "app.h"
#include "conn.h"
#include "handover.h"
#include "ot.h"
#include "room.h"
#include "room_cluster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define USER_FIELD_MAX 128
#define CHAT_ID_MAX 128
#define CURSOR_SEL_MAX 512

struct proto_ctx {
    ot_op op;
    char *scratch;             /* unescaped strings */
    size_t scratch_cap;
};

int proto_init(struct app *app)
{
    struct proto_ctx *p = calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    ot_op_init(&p->op);
    app->proto = p;
    return 0;
}

void proto_free(struct app *app)
{
    struct proto_ctx *p = app->proto;
    if (!p) return;
    ot_op_free(&p->op);
    free(p->scratch);
    free(p);
    app->proto = NULL;
}

void proto_send_error(struct app *app, jw *w, struct conn *c, enum err_code code, const char *message,
                      enum msg_type ref)
{
    wire_write_error(w, code, message, ref);
    if (w->oom) return;
    stat_add(&app->co->stats.errors[code], 1);
    if (conn_send_frame(app->cc, c, WS_OP_TEXT, w->buf, w->len)) stat_add(&app->co->stats.msgs_out[MSG_ERROR], 1);
}

/* ---- field access ---- */

/* Makes room for every string of a message of `len` bytes to be unescaped side by side
 * (unescaped text is never longer than its JSON form): pointers into the scratch space then
 * stay valid for the whole message. */
static bool scratch_reserve(struct app *app, size_t len)
{
    struct proto_ctx *p = app->proto;
    size_t need = 2 * len + 64;
    if (need <= p->scratch_cap) return true;
    char *n = realloc(p->scratch, need);
    if (!n) return false;
    p->scratch = n;
    p->scratch_cap = need;
    return true;
}

/* Unescapes string token i into the scratch space at *at (advancing it). NULL if it is not
 * a string, holds a lone surrogate, or unescapes to more than max bytes. */
static const char *get_str(struct app *app, const json_doc *d, int i, size_t max, size_t *len, size_t *at)
{
    if (i < 0 || !json_is_string(d, i)) return NULL;
    struct proto_ctx *p = app->proto;
    size_t raw = json_raw_len(d, i);
    if (*at + raw + 1 > p->scratch_cap) return NULL;
    char *out = p->scratch + *at;
    if (json_get_string(d, i, out, raw + 1, len) != JSON_OK || *len > max) return NULL;
    *at += *len + 1;
    return out;
}

/* Every string inside the value at token i is valid (no lone surrogates): values passed
 * through verbatim (element, cursor selection) must be as clean as the ones we decode.
 * Uses the scratch space past `at` without claiming it. */
static bool strings_valid(struct app *app, const json_doc *d, int i, size_t at)
{
    int end = json_next(d, i);
    for (int k = i; k < end; k++) {
        if (!json_is_string(d, k)) continue;
        size_t len, tmp = at;
        if (!get_str(app, d, k, SIZE_MAX, &len, &tmp)) return false;
    }
    return true;
}

static bool rate_ok(struct app *app, struct session *s)
{
    uint64_t rate = app->cfg->rate_limit;
    if (rate == 0) return true;
    uint64_t cap = rate * 1000;          /* a burst of one second */
    uint64_t elapsed = app->co->now_ms - s->tokens_ms;
    s->tokens_ms = app->co->now_ms;
    s->tokens_milli += elapsed * rate;
    if (s->tokens_milli > cap) s->tokens_milli = cap;
    if (s->tokens_milli < 1000) return false;
    s->tokens_milli -= 1000;
    return true;
}

static enum msg_type type_of(const json_doc *d, int t)
{
    for (int k = MSG_JOIN; k <= MSG_OP; k++)
        if (json_str_eq(d, t, msg_type_names[k])) return (enum msg_type)k;
    return MSG_OTHER;
}

/* ---- messages ---- */

static void on_join(struct app *app, jw *w, struct conn *c, struct session *s, const json_doc *d,
                    const uint8_t *data, size_t len)
{
    size_t at = 0, room_len;
    const char *room = get_str(app, d, json_obj_get(d, 0, "room"), ROOM_NAME_MAX, &room_len, &at);
    if (!room || !shard_name_valid(room, room_len))
        return proto_send_error(app, w, c, ERR_BAD_ROOM, "room must be 1-128 characters of [A-Za-z0-9._-]", MSG_JOIN);
    struct user_info u = { .id = "", .name = "", .color = "" };
    int ut = json_obj_get(d, 0, "user");
    if (ut >= 0 && !json_is_null(d, ut)) {
        if (!json_is_object(d, ut)) return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "user must be an object", MSG_JOIN);
        const char *names[3] = { "id", "name", "color" };
        const char **dst[3] = { &u.id, &u.name, &u.color };
        size_t *lens[3] = { &u.id_len, &u.name_len, &u.color_len };
        for (int k = 0; k < 3; k++) {
            int f = json_obj_get(d, ut, names[k]);
            if (f < 0 || json_is_null(d, f)) continue;
            const char *v = get_str(app, d, f, USER_FIELD_MAX, lens[k], &at);
            if (!v) return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "user.id, user.name and user.color must be strings of at most 128 bytes", MSG_JOIN);
            *dst[k] = v;
        }
    }
    uint32_t owner = shard_owner(room, room_len, app->co->group->ncores);
    if (owner != (uint32_t)app->co->id) {
        if (core_draining(app->co)) return proto_send_error(app, w, c, ERR_DRAINING, "server is shutting down", MSG_JOIN);
        if (s->room) room_leave(app, w, s);
        if (handover_start(app->cc, c, owner, data, len) == 0) return;
        return proto_send_error(app, w, c, ERR_INTERNAL, "could not move the connection to the room's core", MSG_JOIN);
    }
    enum err_code e = room_join(app, w, s, room, room_len, &u);
    if (e != ERR_NONE) {
        const char *why = e == ERR_ROOM_FULL ? "the room is full (--max-room-members)"
                        : e == ERR_TOO_MANY_ROOMS ? "too many rooms (--max-rooms)" : "could not join";
        proto_send_error(app, w, c, e, why, MSG_JOIN);
    }
}

static const char *room_error_text(enum err_code e)
{
    switch (e) {
    case ERR_NOT_JOINED: return "join a room first";
    case ERR_TOO_LARGE: return "over the size limit";
    case ERR_BAD_OP: return "the operation does not apply to the document at that revision";
    case ERR_REV_TOO_OLD: return "revision older than the server's history window; re-join";
    case ERR_REV_FUTURE: return "revision not reached yet";
    case ERR_TOO_MANY_ELEMENTS: return "too many elements in the room (--max-room-elements)";
    case ERR_STORE_UNAVAILABLE: return "the op log cannot write (disk full?): op not applied, retry later";
    case ERR_CLUSTER_UNAVAILABLE:
        return "the instances' shared Redis cannot be reached: this op is not applied; re-join the room and send it again";
    case ERR_STORE_CONFLICT: return "another writer committed a revision of this room in the store; ops are refused until the server reloads it";
    default: return "internal error";
    }
}

static void on_chat(struct app *app, jw *w, struct conn *c, struct session *s, const json_doc *d)
{
    size_t at = 0, len, id_len = 0;
    const char *text = get_str(app, d, json_obj_get(d, 0, "text"), SIZE_MAX, &len, &at);
    if (!text) return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "chat needs a string text", MSG_CHAT);
    const char *id = NULL;
    int it = json_obj_get(d, 0, "id");
    bool has_id = it >= 0 && !json_is_null(d, it);
    if (has_id && !(id = get_str(app, d, it, CHAT_ID_MAX, &id_len, &at)))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "chat id must be a string of at most 128 bytes", MSG_CHAT);
    enum err_code e = room_chat(app, w, s, text, len, id, id_len, has_id);
    if (e != ERR_NONE) proto_send_error(app, w, c, e, room_error_text(e), MSG_CHAT);
}

static void on_cursor(struct app *app, jw *w, struct conn *c, struct session *s, const json_doc *d)
{
    int64_t pos;
    if (!json_get_int64(d, json_obj_get(d, 0, "pos"), &pos) || pos < 0)
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "cursor needs an integer pos >= 0", MSG_CURSOR);
    int st = json_obj_get(d, 0, "sel");
    if (st >= 0 && (json_raw_len(d, st) > CURSOR_SEL_MAX || !strings_valid(app, d, st, 0)))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "sel must be a small JSON value", MSG_CURSOR);
    if (!s->room) return proto_send_error(app, w, c, ERR_NOT_JOINED, room_error_text(ERR_NOT_JOINED), MSG_CURSOR);
    jw_reset(w);
    jw_lit(w, "{\"type\":\"cursor\",\"from\":");
    jw_str(w, s->id, strlen(s->id));
    jw_lit(w, ",\"pos\":");
    jw_int(w, pos);
    jw_lit(w, ",\"sel\":");
    if (st >= 0) {
        /* a string token's raw text excludes its quotes */
        if (json_is_string(d, st)) jw_char(w, '"');
        jw_raw(w, json_raw(d, st), json_raw_len(d, st));
        if (json_is_string(d, st)) jw_char(w, '"');
    } else {
        jw_lit(w, "null");
    }
    jw_char(w, '}');
    if (w->oom) return proto_send_error(app, w, c, ERR_INTERNAL, room_error_text(ERR_INTERNAL), MSG_CURSOR);
    enum err_code e = room_cursor(app, s, w->buf, w->len);
    if (e != ERR_NONE) proto_send_error(app, w, c, e, room_error_text(e), MSG_CURSOR);
}

static void on_element(struct app *app, jw *w, struct conn *c, struct session *s, const json_doc *d)
{
    int et = json_obj_get(d, 0, "element");
    if (et < 0 || !json_is_object(d, et))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "element must be an object", MSG_ELEMENT);
    size_t at = 0, id_len;
    const char *id = get_str(app, d, json_obj_get(d, et, "id"), 256, &id_len, &at);
    int64_t version, nonce = 0;
    int nt = json_obj_get(d, et, "versionNonce");
    if (!id || id_len == 0 || !json_get_int64(d, json_obj_get(d, et, "version"), &version) ||
        (nt >= 0 && !json_get_int64(d, nt, &nonce)))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE,
                                "element needs a string id (1-256 bytes), an integer version and an integer versionNonce",
                                MSG_ELEMENT);
    int dt = json_obj_get(d, et, "isDeleted");
    bool deleted;
    if (dt >= 0 && !json_is_null(d, dt) && !json_get_bool(d, dt, &deleted))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "isDeleted must be a boolean", MSG_ELEMENT);
    if (!strings_valid(app, d, et, at))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "element holds an invalid string", MSG_ELEMENT);
    enum err_code e = room_element(app, w, s, id, id_len, version, nonce, json_raw(d, et), json_raw_len(d, et));
    if (e != ERR_NONE) proto_send_error(app, w, c, e, room_error_text(e), MSG_ELEMENT);
}

static void on_op(struct app *app, jw *w, struct conn *c, struct session *s, const json_doc *d, uint64_t t0)
{
    int64_t rev;
    if (!json_get_int64(d, json_obj_get(d, 0, "rev"), &rev))
        return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "op needs an integer rev", MSG_OP);
    int ot = json_obj_get(d, 0, "op");
    ot_op *op = &app->proto->op;
    ot_op_clear(op);
    if (ot < 0) return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "op needs an op (ot.js TextOperation JSON)", MSG_OP);
    if (ot_op_from_json(op, d, ot) != OT_OK)
        return proto_send_error(app, w, c, ERR_BAD_OP, "op is not a valid ot.js TextOperation (integers and non-empty strings without lone surrogates)", MSG_OP);
    /* optional idempotency key: cid (string, 1..64 bytes) and cseq (integer >= 0), both or neither */
    const char *cid = NULL;
    size_t cid_len = 0;
    int64_t cseq = 0;
    int tcid = json_obj_get(d, 0, "cid"), tcseq = json_obj_get(d, 0, "cseq");
    if (tcid >= 0 || tcseq >= 0) {
        if (tcid < 0 || tcseq < 0 || !json_get_int64(d, tcseq, &cseq) || cseq < 0)
            return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "cid and cseq go together: cid a string of 1 to 64 bytes, cseq an integer >= 0", MSG_OP);
        size_t at = 0;
        if (!(cid = get_str(app, d, tcid, ROOM_CID_MAX, &cid_len, &at)) || cid_len == 0)
            return proto_send_error(app, w, c, ERR_BAD_MESSAGE, "cid and cseq go together: cid a string of 1 to 64 bytes, cseq an integer >= 0", MSG_OP);
    }
    uint64_t new_rev;
    enum err_code e = app->bus ? room_cluster_op(app, s, rev, op, cid, cid_len, (uint64_t)cseq)
                               : room_op(app, w, s, rev, op, cid, cid_len, (uint64_t)cseq, &new_rev);
    if (e != ERR_NONE) return proto_send_error(app, w, c, e, room_error_text(e), MSG_OP);
    hist_observe(&app->co->stats.op_latency, clock_ns() - t0);
}

void proto_on_message(struct app *app, struct conn *c, const uint8_t *data, size_t len, uint8_t opcode)
{
    uint64_t t0 = clock_ns();
    jw *w = &app->out;
    struct session *s = conn_user(c);
    if (!s) {
        if (!(s = session_new(app))) return proto_send_error(app, w, c, ERR_INTERNAL, "out of memory", MSG_OTHER);
        s->conn = c;
        conn_set_user(c, s);
    }
    if (!rate_ok(app, s)) {
        stat_add(&app->co->stats.msgs_in[MSG_OTHER], 1);
        return proto_send_error(app, w, c, ERR_RATE_LIMITED, "too many messages (--rate-limit); message dropped", MSG_OTHER);
    }
    if (opcode != WS_OP_TEXT) {
        stat_add(&app->co->stats.msgs_in[MSG_OTHER], 1);
        return proto_send_error(app, w, c, ERR_BAD_JSON, "messages are JSON text frames", MSG_OTHER);
    }
    if (!scratch_reserve(app, len)) return proto_send_error(app, w, c, ERR_INTERNAL, "out of memory", MSG_OTHER);
    json_doc d;
    int r = json_parse(&d, (const char *)data, len, app->toks, app->max_toks);
    if (r != JSON_OK || !json_is_object(&d, 0)) {
        stat_add(&app->co->stats.msgs_in[MSG_OTHER], 1);
        return proto_send_error(app, w, c, r == JSON_ETOOMANY ? ERR_TOO_LARGE : ERR_BAD_JSON,
                                r == JSON_ETOOMANY ? "message has too many JSON values"
                                                   : "message must be one JSON object", MSG_OTHER);
    }
    int tt = json_obj_get(&d, 0, "type");
    enum msg_type type = tt >= 0 && json_is_string(&d, tt) ? type_of(&d, tt) : MSG_OTHER;
    stat_add(&app->co->stats.msgs_in[type], 1);
    switch (type) {
    case MSG_JOIN: return on_join(app, w, c, s, &d, data, len);
    case MSG_LEAVE:
        if (!s->room) return proto_send_error(app, w, c, ERR_NOT_JOINED, room_error_text(ERR_NOT_JOINED), MSG_LEAVE);
        return room_leave(app, w, s);
    case MSG_CHAT: return on_chat(app, w, c, s, &d);
    case MSG_CURSOR: return on_cursor(app, w, c, s, &d);
    case MSG_ELEMENT: return on_element(app, w, c, s, &d);
    case MSG_OP: return on_op(app, w, c, s, &d, t0);
    default:
        return proto_send_error(app, w, c, ERR_UNKNOWN_TYPE,
                                tt < 0 ? "message has no type" : "unknown message type", MSG_OTHER);
    }
}
