/* rl_chatmsg.c: see rl_chatmsg.h. */
#include "rl_chatmsg.h"

#include "rl_run.h"
#include "ws.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_START 256
#define TOKENS_MAX (1 << 22)

static bool parse_id(const char *s, size_t n, struct rl_chatmsg *m)
{
    char buf[80];
    if (n == 0 || n >= sizeof buf) return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned long long a, b, t;
    char tail;
    if (sscanf(buf, "%llu:%llu:%llu%c", &a, &b, &t, &tail) != 3) return false;
    if (a > UINT32_MAX || b > UINT32_MAX) return false;
    m->sender = (uint32_t)a;
    m->seq = (uint32_t)b;
    m->sched = t;
    m->has_id = true;
    return true;
}

static void copy_string(const json_doc *d, int tok, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (tok < 0 || !json_is_string(d, tok)) return;
    if (json_get_string(d, tok, out, cap - 1, &n) != JSON_OK) n = 0;
    out[n] = '\0';
}

static bool parse(struct rl_run *r, const uint8_t *data, size_t len, struct rl_chatmsg *m)
{
    memset(m, 0, sizeof *m);
    m->doc_tok = m->op_tok = m->from_tok = -1;
    if (!r->toks) {
        r->toks = malloc(TOKENS_START * sizeof *r->toks);
        if (!r->toks) return false;
        r->ntoks = TOKENS_START;
    }
    json_doc *d = &m->doc;
    int rc;
    while ((rc = json_parse(d, (const char *)data, len, r->toks, r->ntoks)) == JSON_ETOOMANY) {
        if (r->ntoks >= TOKENS_MAX) return false;
        jsmntok_t *t = realloc(r->toks, (size_t)r->ntoks * 4 * sizeof *t);
        if (!t) return false;
        r->toks = t;
        r->ntoks *= 4;
    }
    if (rc != JSON_OK || !json_is_object(d, 0)) return false;
    int type = json_obj_get(d, 0, "type");
    if (type < 0 || !json_is_string(d, type)) return false;
    int t;
    if (json_str_eq(d, type, "chat")) {
        m->type = RL_MSG_CHAT;
        if ((t = json_obj_get(d, 0, "id")) >= 0 && json_is_string(d, t)) parse_id(json_raw(d, t), json_raw_len(d, t), m);
    } else if (json_str_eq(d, type, "cursor")) {
        m->type = RL_MSG_CURSOR;
        t = json_obj_get(d, 0, "sel");
        int64_t v[4];
        if (t >= 0 && json_is_array(d, t) && d->tok[t].size == 4 && json_get_int64(d, t + 1, &v[0]) &&
            json_get_int64(d, t + 2, &v[1]) && json_get_int64(d, t + 3, &v[2]) && json_get_int64(d, t + 4, &v[3]) &&
            v[0] >= 0 && v[0] <= UINT32_MAX && v[1] >= 0 && v[1] <= UINT32_MAX && v[2] >= 0 && v[3] >= 0 &&
            v[3] < (int64_t)RL_NS_PER_S) {
            m->sender = (uint32_t)v[0];
            m->seq = (uint32_t)v[1];
            m->sched = (uint64_t)v[2] * RL_NS_PER_S + (uint64_t)v[3];
            m->has_id = true;
        }
    } else if (json_str_eq(d, type, "joined")) {
        m->type = RL_MSG_JOINED;
        copy_string(d, json_obj_get(d, 0, "self"), m->self, sizeof m->self);
        m->doc_tok = json_obj_get(d, 0, "doc");
    } else if (json_str_eq(d, type, "ack")) {
        m->type = RL_MSG_ACK;
    } else if (json_str_eq(d, type, "op")) {
        m->type = RL_MSG_OP;
        m->op_tok = json_obj_get(d, 0, "op");
        m->from_tok = json_obj_get(d, 0, "from");
    } else if (json_str_eq(d, type, "error")) {
        m->type = RL_MSG_ERROR;
        copy_string(d, json_obj_get(d, 0, "code"), m->code, sizeof m->code);
        if (!m->code[0]) strcpy(m->code, "unknown");
    } else if (json_str_eq(d, type, "presence")) {
        m->type = RL_MSG_PRESENCE;
    } else if (json_str_eq(d, type, "bye")) {
        m->type = RL_MSG_BYE;
    } else {
        m->type = RL_MSG_OTHER;
    }
    if (m->type == RL_MSG_JOINED || m->type == RL_MSG_ACK || m->type == RL_MSG_OP) {
        t = json_obj_get(d, 0, "rev");
        m->has_rev = t >= 0 && json_get_int64(d, t, &m->rev);
    }
    return true;
}

bool rl_chatmsg_read(struct rl_run *r, uint8_t opcode, const uint8_t *data, size_t len, struct rl_chatmsg *m)
{
    if (opcode == WS_OP_TEXT && parse(r, data, len, m)) return true;
    rl_run_error(r, RL_ERR_BAD_MESSAGE);
    return false;
}

bool rl_chatmsg_join(struct rl_run *r, struct rl_conn *c, uint32_t room)
{
    jw *w = &r->out;
    jw_reset(w);
    char buf[96];
    uint32_t gid = rl_run_gid(r, c);
    jw_lit(w, "{\"type\":\"join\",\"room\":");
    int n = snprintf(buf, sizeof buf, "%s%" PRIu32, r->o->room_prefix, room);
    jw_str(w, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "u%" PRIu32, gid);
    jw_lit(w, ",\"user\":{\"id\":");
    jw_str(w, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "ringload %" PRIu32, gid);
    jw_lit(w, ",\"name\":");
    jw_str(w, buf, (size_t)n);
    n = snprintf(buf, sizeof buf, "\"#%06" PRIx32 "\"}}", (uint32_t)(rl_mix64(gid) & 0xFFFFFF));
    jw_lit(w, ",\"color\":");
    jw_raw(w, buf, (size_t)n);
    if (w->oom) return false;
    return rl_conn_send(r, c, WS_OP_TEXT, w->buf, w->len);
}

bool rl_chatmsg_leave(struct rl_run *r, struct rl_conn *c)
{
    static const char msg[] = "{\"type\":\"leave\"}";
    return rl_conn_send(r, c, WS_OP_TEXT, msg, sizeof msg - 1);
}
