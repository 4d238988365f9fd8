/* bus.c: a room's keys, scripts and channel messages in Redis (see bus.h). */
#include "cluster/bus.h"

#include "log.h"
#include "shard.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (ROOM_NAME_MAX + 16)

/* ---- scripts (Lua, run by Redis one at a time: each is atomic) ----
 * Sent with EVAL every time: Redis compiles a script once and finds it by its SHA-1 after
 * that, and EVAL stays right after a Redis restart emptied its script cache. */

/* KEYS rev log cid chan; ARGV expected ts n, then op from cid cseq for each of the n ops →
 * {0, rev of the first} | {1, head} | {2, index, rev}: the op at index was committed before,
 * at rev (checked for every op before anything is written) */
static const char commit_lua[] =
    "local n = tonumber(ARGV[3])\n"
    "for i = 0, n - 1 do\n"
    "  local c = redis.call('HGET', KEYS[3], ARGV[6 + 4 * i])\n"
    "  if c then\n"
    "    local sp = string.find(c, ' ')\n"
    "    if tonumber(ARGV[7 + 4 * i]) <= tonumber(string.sub(c, 1, sp - 1)) then\n"
    "      return {2, i, tonumber(string.sub(c, sp + 1))}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local head = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if head ~= tonumber(ARGV[1]) then return {1, head} end\n"
    "for i = 0, n - 1 do\n"
    "  local rev, op, from, cid, cseq = head + 1 + i, ARGV[4 + 4 * i], ARGV[5 + 4 * i], ARGV[6 + 4 * i], ARGV[7 + 4 * i]\n"
    "  redis.call('XADD', KEYS[2], rev .. '-0', 'op', op, 'from', from, 'ts', ARGV[2], 'cid', cid, 'cseq', cseq)\n"
    "  redis.call('HSET', KEYS[3], cid, cseq .. ' ' .. rev)\n"
    "  redis.call('PUBLISH', KEYS[4], 'o' .. rev .. ' ' .. ARGV[2] .. ' ' .. cseq .. ' ' .. from .. ' ' .. #cid .. '\\n'"
    " .. cid .. op)\n"
    "end\n"
    "redis.call('SET', KEYS[1], head + n)\n"
    "return {0, head + 1}\n";

/* KEYS chat chan; ARGV prefix suffix ts → seq */
static const char chat_lua[] =
    "local seq = redis.call('INCR', KEYS[1])\n"
    "redis.call('PUBLISH', KEYS[2], 'c' .. seq .. ' ' .. ARGV[3] .. '\\n' .. ARGV[1] .. seq .. ARGV[2])\n"
    "return seq\n";

/* KEYS els chan; ARGV id version nonce json from max → 1 won, 0 lost, -1 full */
static const char element_lua[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "local v, n = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "if cur then\n"
    "  local a, b = string.match(cur, '^(%-?%d+) (%-?%d+) ')\n"
    "  a, b = tonumber(a), tonumber(b)\n"
    "  if v < a or (v == a and n >= b) then return 0 end\n"
    "elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then return -1 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])\n"
    "redis.call('PUBLISH', KEYS[2], 'e' .. ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[5] .. ' ' .. #ARGV[1] .. '\\n'"
    " .. ARGV[1] .. ARGV[4])\n"
    "return 1\n";

#define NOW_MS_LUA "local t = redis.call('TIME')\nlocal now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

/* KEYS pres pinfo chan; ARGV id json ttl */
static const char join_lua[] =
    NOW_MS_LUA
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "redis.call('PUBLISH', KEYS[3], 'j' .. ARGV[1] .. '\\n' .. ARGV[2])\n"
    "return 1\n";

/* KEYS pres pinfo chan; ARGV id json */
static const char leave_lua[] =
    "if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then\n"
    "  redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "  redis.call('PUBLISH', KEYS[3], 'l' .. ARGV[1] .. '\\n' .. ARGV[2])\n"
    "end\n"
    "return 1\n";

/* KEYS pres pinfo chan; ARGV ttl, then id json pairs → participants expired */
static const char beat_lua[] =
    NOW_MS_LUA
    "for i = 2, #ARGV, 2 do\n"
    "  if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) == 1 then\n"
    "    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "    redis.call('PUBLISH', KEYS[3], 'j' .. ARGV[i] .. '\\n' .. ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 256)\n"
    "for _, id in ipairs(dead) do\n"
    "  local j = redis.call('HGET', KEYS[2], id)\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('HDEL', KEYS[2], id)\n"
    "  if j then redis.call('PUBLISH', KEYS[3], 'l' .. id .. '\\n' .. j) end\n"
    "end\n"
    "return #dead\n";

/* KEYS rev log chat; ARGV rev chat_seq, then rev op from ts for each op → the head after.
 * Redis lost the room (restarted without its data): the instance with the highest revision
 * puts its head and its last ops back, so the others can catch up from them. */
static const char seed_lua[] =
    "local head = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if head >= tonumber(ARGV[1]) then return head end\n"
    "redis.call('DEL', KEYS[2])\n"
    "for i = 3, #ARGV, 4 do\n"
    "  redis.call('XADD', KEYS[2], ARGV[i] .. '-0', 'op', ARGV[i + 1], 'from', ARGV[i + 2], 'ts', ARGV[i + 3],"
    " 'cid', '', 'cseq', '0')\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1])\n"
    "if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[2]) then redis.call('SET', KEYS[3], ARGV[2]) end\n"
    "return tonumber(ARGV[1])\n";

/* KEYS rev pinfo els → {head, pinfo pairs, element pairs} */
static const char state_lua[] =
    "return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('HGETALL', KEYS[2]),"
    " redis.call('HGETALL', KEYS[3])}\n";

/* ---- keys ---- */

static size_t key(char *out, const char *room, size_t len, const char *suffix)
{
    int n = snprintf(out, KEY_MAX, "rr:{%.*s}%s", (int)len, room, suffix);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- replies ---- */

enum reply_kind { R_STATE, R_FETCH, R_COMMIT, R_SEED, R_CHECK };

struct request {
    enum reply_kind kind;
    uint64_t token;
    size_t len;
    char room[ROOM_NAME_MAX + 1];
};

static struct request *request_new(enum reply_kind kind, const char *room, size_t len, uint64_t token)
{
    if (len > ROOM_NAME_MAX) return NULL;
    struct request *rq = malloc(sizeof *rq);
    if (!rq) return NULL;
    rq->kind = kind;
    rq->token = token;
    rq->len = len;
    memcpy(rq->room, room, len);
    rq->room[len] = '\0';
    return rq;
}

static bool reply_int(const redisReply *r, long long *v)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *v = r->integer;
        return true;
    }
    return false;
}

/* A decimal field of a header, followed by a space or a newline (consumed). */
static bool field_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9') return false;
    while (s < end && *s >= '0' && *s <= '9') v = v * 10 + (uint64_t)(*s++ - '0');
    if (s >= end || (*s != ' ' && *s != '\n')) return false;
    *out = v;
    *p = s + 1;
    return true;
}

static bool field_i64(const char **p, const char *end, int64_t *out)
{
    bool neg = *p < end && **p == '-';
    if (neg) (*p)++;
    uint64_t v;
    if (!field_u64(p, end, &v)) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* A word up to a space or a newline (consumed). */
static bool field_word(const char **p, const char *end, const char **w, size_t *len)
{
    const char *s = *p;
    while (s < end && *s != ' ' && *s != '\n') s++;
    if (s >= end) return false;
    *w = *p;
    *len = (size_t)(s - *p);
    *p = s + 1;
    return true;
}

/* `n` bytes at *p. */
static bool field_bytes(const char **p, const char *end, uint64_t n, const char **w, size_t *len)
{
    if ((uint64_t)(end - *p) < n) return false;
    *w = *p;
    *len = (size_t)n;
    *p += n;
    return true;
}

/* Decodes one channel message (its first byte says what it is). */
static bool decode_event(struct bus_event *ev, const char *msg, size_t len)
{
    const char *p = msg + 1, *end = msg + len;
    uint64_t n;
    if (len < 2) return false;
    switch (msg[0]) {
    case 'o':
        ev->kind = BUS_OP;
        if (!field_u64(&p, end, &ev->rev) || !field_u64(&p, end, &ev->ts) || !field_u64(&p, end, &ev->cseq) ||
            !field_word(&p, end, &ev->from, &ev->from_len) || !field_u64(&p, end, &n) ||
            !field_bytes(&p, end, n, &ev->cid, &ev->cid_len))
            return false;
        break;
    case 'c':
        ev->kind = BUS_CHAT;
        if (!field_u64(&p, end, &ev->seq) || !field_u64(&p, end, &ev->ts)) return false;
        break;
    case 'j':
    case 'l':
        ev->kind = msg[0] == 'j' ? BUS_JOIN : BUS_LEAVE;
        if (!field_word(&p, end, &ev->from, &ev->from_len)) return false;
        break;
    case 'u':
        ev->kind = BUS_CURSOR;
        if (!field_word(&p, end, &ev->from, &ev->from_len)) return false;
        break;
    case 'e':
        ev->kind = BUS_ELEMENT;
        if (!field_i64(&p, end, &ev->version) || !field_i64(&p, end, &ev->nonce) ||
            !field_word(&p, end, &ev->from, &ev->from_len) || !field_u64(&p, end, &n) ||
            !field_bytes(&p, end, n, &ev->id, &ev->id_len))
            return false;
        break;
    default:
        return false;
    }
    ev->body = p;
    ev->body_len = (size_t)(end - p);
    return true;
}

/* The room of a channel name "rr:{R}". */
static bool channel_room(const redisReply *ch, const char **room, size_t *len)
{
    if (ch->type != REDIS_REPLY_STRING || ch->len < 6 || memcmp(ch->str, "rr:{", 4) != 0 ||
        ch->str[ch->len - 1] != '}')
        return false;
    *room = ch->str + 4;
    *len = ch->len - 5;
    return true;
}

static void on_channel(void *arg, redisReply *r, void *privdata)
{
    struct bus *b = arg;
    (void)privdata;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING) return;
    const char *type = r->element[0]->str, *room;
    size_t rlen;
    if (!channel_room(r->element[1], &room, &rlen)) return;
    if (strcmp(type, "subscribe") == 0) {
        b->h.on_subscribed(b->h.arg, room, rlen);
    } else if (strcmp(type, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING) {
        struct bus_event ev = { .room = room, .room_len = rlen };
        if (decode_event(&ev, r->element[2]->str, r->element[2]->len)) b->h.on_event(b->h.arg, &ev);
        else log_warn("redis: undecodable message on room %.*s's channel", (int)rlen, room);
    }
}

/* An XRANGE entry [id, [field, value, ...]] as an op. */
static bool decode_entry(const redisReply *e, struct bus_event *ev)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    const char *p = e->element[0]->str;
    char *end;
    ev->kind = BUS_OP;
    ev->rev = strtoull(p, &end, 10);
    if (end == p || *end != '-') return false;
    const redisReply *f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) return false;
        if (strcmp(k->str, "op") == 0) ev->body = v->str, ev->body_len = v->len;
        else if (strcmp(k->str, "from") == 0) ev->from = v->str, ev->from_len = v->len;
        else if (strcmp(k->str, "cid") == 0) ev->cid = v->str, ev->cid_len = v->len;
        else if (strcmp(k->str, "ts") == 0) ev->ts = strtoull(v->str, NULL, 10);
        else if (strcmp(k->str, "cseq") == 0) ev->cseq = strtoull(v->str, NULL, 10);
    }
    return ev->body && ev->from;
}

static void reply_fetch(struct bus *b, const struct request *rq, const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        b->h.on_fetch(b->h.arg, rq->room, rq->len, false, NULL, 0);
        return;
    }
    struct bus_event *ops = calloc(r->elements ? r->elements : 1, sizeof *ops);
    uint32_t n = 0;
    for (size_t i = 0; ops && i < r->elements; i++) {
        ops[n].room = rq->room;
        ops[n].room_len = rq->len;
        if (decode_entry(r->element[i], &ops[n])) n++;
    }
    b->h.on_fetch(b->h.arg, rq->room, rq->len, ops != NULL && n == r->elements, ops, n);
    free(ops);
}

static void reply_state(struct bus *b, const struct request *rq, const redisReply *r)
{
    long long head;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !reply_int(r->element[0], &head) ||
        r->element[1]->type != REDIS_REPLY_ARRAY || r->element[2]->type != REDIS_REPLY_ARRAY) {
        b->h.on_state(b->h.arg, rq->room, rq->len, false, NULL);
        return;
    }
    const redisReply *pi = r->element[1], *els = r->element[2];
    struct bus_state st = { .head = (uint64_t)head };
    st.participants = calloc(pi->elements / 2 + 1, sizeof *st.participants);
    st.participant_lens = calloc(pi->elements / 2 + 1, sizeof *st.participant_lens);
    st.elements = calloc(els->elements / 2 + 1, sizeof *st.elements);
    bool ok = st.participants && st.participant_lens && st.elements;
    for (size_t i = 1; ok && i < pi->elements; i += 2) {
        st.participants[st.nparticipants] = pi->element[i]->str;
        st.participant_lens[st.nparticipants++] = pi->element[i]->len;
    }
    for (size_t i = 0; ok && i + 1 < els->elements; i += 2) {
        struct bus_element_state *e = &st.elements[st.nelements];
        const redisReply *v = els->element[i + 1];
        const char *p = v->str, *end = v->str + v->len;
        e->id = els->element[i]->str;
        e->id_len = els->element[i]->len;
        if (!field_i64(&p, end, &e->version) || !field_i64(&p, end, &e->nonce)) continue;
        e->json = p;
        e->json_len = (size_t)(end - p);
        st.nelements++;
    }
    b->h.on_state(b->h.arg, rq->room, rq->len, ok, ok ? &st : NULL);
    free(st.participants);
    free(st.participant_lens);
    free(st.elements);
}

static void reply_commit(struct bus *b, const struct request *rq, const redisReply *r)
{
    long long v[3] = { 0, 0, 0 };
    if (!r) {
        b->h.on_commit(b->h.arg, rq->room, rq->len, rq->token, BUS_LINK_LOST, 0, 0);
        return;
    }
    bool ok = r->type == REDIS_REPLY_ARRAY && (r->elements == 2 || r->elements == 3);
    for (size_t i = 0; ok && i < r->elements; i++) ok = reply_int(r->element[i], &v[i]);
    if (!ok || v[0] < 0 || v[0] > 2 || (v[0] == 2) != (r->elements == 3)) {
        b->h.on_commit(b->h.arg, rq->room, rq->len, rq->token, BUS_FAILED, 0, 0);
        return;
    }
    if (v[0] == 0) b->h.on_commit(b->h.arg, rq->room, rq->len, rq->token, BUS_COMMITTED, (uint64_t)v[1], 0);
    else if (v[0] == 1) b->h.on_commit(b->h.arg, rq->room, rq->len, rq->token, BUS_CONFLICT, (uint64_t)v[1], 0);
    else b->h.on_commit(b->h.arg, rq->room, rq->len, rq->token, BUS_DUPLICATE, (uint64_t)v[2], (uint32_t)v[1]);
}

static void on_reply(void *arg, redisReply *r, void *privdata)
{
    struct bus *b = arg;
    struct request *rq = privdata;
    if (r && r->type == REDIS_REPLY_ERROR) log_error("redis: room %s: %s", rq->room, r->str);
    switch (rq->kind) {
    case R_STATE: reply_state(b, rq, r); break;
    case R_FETCH: reply_fetch(b, rq, r); break;
    case R_COMMIT: reply_commit(b, rq, r); break;
    case R_SEED: {
        long long head = 0;
        bool ok = r && reply_int(r, &head);
        b->h.on_seeded(b->h.arg, rq->room, rq->len, ok, (uint64_t)head);
        break;
    }
    case R_CHECK: break;                 /* fire and forget: an error was logged */
    }
    free(rq);
}

/* ---- sending ---- */

#define MAX_ARGS 16

static bool send_request(struct bus *b, enum reply_kind kind, const char *room, size_t len, uint64_t token, int argc,
                         const char **argv, const size_t *lens)
{
    struct request *rq = request_new(kind, room, len, token);
    if (!rq) return false;
    if (!b->up || !link_command(&b->cmd, on_reply, b, rq, argc, argv, lens)) {
        free(rq);
        return false;
    }
    return true;
}

/* The head of an EVAL: the command, the script, the number of keys and the room's keys named
 * by suffixes (written into keys, nkeys <= 6). Returns how many of argv it filled. */
static size_t eval_head(const char **argv, size_t *lens, const char *script, int nkeys,
                        const char *const *suffixes, char (*keys)[KEY_MAX], const char *room, size_t len)
{
    static const char *const counts[] = { "0", "1", "2", "3", "4", "5", "6" };
    size_t c = 0;
    argv[c] = "EVAL", lens[c++] = 4;
    argv[c] = script, lens[c++] = strlen(script);
    argv[c] = counts[nkeys], lens[c++] = 1;
    for (int i = 0; i < nkeys; i++) argv[c] = keys[i], lens[c++] = key(keys[i], room, len, suffixes[i]);
    return c;
}

/* EVAL script with the room's keys named by suffixes, then args. */
static bool eval(struct bus *b, enum reply_kind kind, const char *room, size_t len, uint64_t token, const char *script,
                 int nkeys, const char *const *suffixes, int nargs, const char **args, const size_t *arg_lens)
{
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS];
    char keys[6][KEY_MAX];
    if (3 + nkeys + nargs > MAX_ARGS || nkeys > 6) return false;
    size_t c = eval_head(argv, lens, script, nkeys, suffixes, keys, room, len);
    for (int i = 0; i < nargs; i++) argv[c] = args[i], lens[c++] = arg_lens[i];
    return send_request(b, kind, room, len, token, (int)c, argv, lens);
}

#define NUM(buf, fmt, v) ((size_t)snprintf(buf, sizeof buf, fmt, v))

bool bus_subscribe(struct bus *b, const char *room, size_t len)
{
    char ch[KEY_MAX];
    return b->up && link_subscribe(&b->sub, ch, key(ch, room, len, ""));
}

bool bus_unsubscribe(struct bus *b, const char *room, size_t len)
{
    char ch[KEY_MAX];
    return b->up && link_unsubscribe(&b->sub, ch, key(ch, room, len, ""));
}

bool bus_state(struct bus *b, const char *room, size_t len)
{
    static const char *const k[] = { ":rev", ":pinfo", ":els" };
    return eval(b, R_STATE, room, len, 0, state_lua, 3, k, 0, NULL, NULL);
}

bool bus_fetch(struct bus *b, const char *room, size_t len, uint64_t from_rev, uint32_t max_ops)
{
    char log[KEY_MAX], start[32], count[16];
    const char *argv[] = { "XRANGE", log, start, "+", "COUNT", count };
    size_t lens[] = { 6, key(log, room, len, ":log"), NUM(start, "%" PRIu64 "-0", from_rev), 1, 5,
                      NUM(count, "%u", max_ops) };
    return send_request(b, R_FETCH, room, len, 0, 6, argv, lens);
}

bool bus_commit(struct bus *b, const char *room, size_t len, uint64_t token, uint64_t expected_rev, uint64_t ts,
                uint32_t n, const struct bus_commit_op *ops)
{
    size_t argc = 3 + 4 + 3 + 4 * (size_t)n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char (*nums)[24] = malloc((3 + (size_t)n) * sizeof *nums);
    char keys[4][KEY_MAX];
    static const char *const k[] = { ":rev", ":log", ":cid", "" };
    bool ok = false;
    if (argv && lens && nums && n) {
        size_t c = eval_head(argv, lens, commit_lua, 4, k, keys, room, len), m = 0;
        lens[c] = NUM(nums[m], "%" PRIu64, expected_rev), argv[c++] = nums[m++];
        lens[c] = NUM(nums[m], "%" PRIu64, ts), argv[c++] = nums[m++];
        lens[c] = NUM(nums[m], "%u", n), argv[c++] = nums[m++];
        for (uint32_t i = 0; i < n; i++) {
            argv[c] = ops[i].op, lens[c++] = ops[i].op_len;
            argv[c] = ops[i].from, lens[c++] = strlen(ops[i].from);
            argv[c] = ops[i].cid, lens[c++] = ops[i].cid_len;
            lens[c] = NUM(nums[m], "%" PRIu64, ops[i].cseq), argv[c++] = nums[m++];
        }
        ok = send_request(b, R_COMMIT, room, len, token, (int)c, argv, lens);
    }
    free(argv);
    free(lens);
    free(nums);
    return ok;
}

bool bus_chat(struct bus *b, const char *room, size_t len, const char *prefix, size_t prefix_len, const char *suffix,
              size_t suffix_len, uint64_t ts)
{
    static const char *const k[] = { ":chat", "" };
    char t[24];
    const char *args[] = { prefix, suffix, t };
    size_t lens[] = { prefix_len, suffix_len, NUM(t, "%" PRIu64, ts) };
    return eval(b, R_CHECK, room, len, 0, chat_lua, 2, k, 3, args, lens);
}

bool bus_element(struct bus *b, const char *room, size_t len, const char *id, size_t id_len, int64_t version,
                 int64_t nonce, const char *json, size_t json_len, const char *from, uint32_t max_elements)
{
    static const char *const k[] = { ":els", "" };
    char v[24], n[24], m[16];
    const char *args[] = { id, v, n, json, from, m };
    size_t lens[] = { id_len, NUM(v, "%" PRId64, version), NUM(n, "%" PRId64, nonce), json_len, strlen(from),
                      NUM(m, "%u", max_elements) };
    return eval(b, R_CHECK, room, len, 0, element_lua, 2, k, 6, args, lens);
}

bool bus_cursor(struct bus *b, const char *room, size_t len, const char *from, const char *msg, size_t msg_len)
{
    char ch[KEY_MAX];
    size_t flen = strlen(from), plen = 1 + flen + 1 + msg_len;
    char *payload = malloc(plen);
    if (!payload) return false;
    payload[0] = 'u';
    memcpy(payload + 1, from, flen);
    payload[1 + flen] = '\n';
    memcpy(payload + 2 + flen, msg, msg_len);
    const char *argv[] = { "PUBLISH", ch, payload };
    size_t lens[] = { 7, key(ch, room, len, ""), plen };
    bool ok = send_request(b, R_CHECK, room, len, 0, 3, argv, lens);
    free(payload);
    return ok;
}

static const char *const presence_keys[] = { ":pres", ":pinfo", "" };

bool bus_presence_join(struct bus *b, const char *room, size_t len, const char *id, const char *json, size_t json_len,
                       uint32_t ttl_ms)
{
    char t[16];
    const char *args[] = { id, json, t };
    size_t lens[] = { strlen(id), json_len, NUM(t, "%u", ttl_ms) };
    return eval(b, R_CHECK, room, len, 0, join_lua, 3, presence_keys, 3, args, lens);
}

bool bus_presence_leave(struct bus *b, const char *room, size_t len, const char *id, const char *json, size_t json_len)
{
    const char *args[] = { id, json };
    size_t lens[] = { strlen(id), json_len };
    return eval(b, R_CHECK, room, len, 0, leave_lua, 3, presence_keys, 2, args, lens);
}

bool bus_seed(struct bus *b, const char *room, size_t len, uint64_t rev, uint64_t chat_seq, uint32_t n,
              const struct bus_event *ops)
{
    size_t argc = 3 + 3 + 2 + 4 * (size_t)n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char (*nums)[24] = malloc((2 + 2 * (size_t)n) * sizeof *nums);
    char keys[3][KEY_MAX];
    static const char *const k[] = { ":rev", ":log", ":chat" };
    bool ok = false;
    if (argv && lens && nums) {
        size_t c = eval_head(argv, lens, seed_lua, 3, k, keys, room, len), m = 0;
        lens[c] = NUM(nums[m], "%" PRIu64, rev), argv[c++] = nums[m++];
        lens[c] = NUM(nums[m], "%" PRIu64, chat_seq), argv[c++] = nums[m++];
        for (uint32_t i = 0; i < n; i++) {
            lens[c] = NUM(nums[m], "%" PRIu64, ops[i].rev), argv[c++] = nums[m++];
            argv[c] = ops[i].body, lens[c++] = ops[i].body_len;
            argv[c] = ops[i].from, lens[c++] = ops[i].from_len;
            lens[c] = NUM(nums[m], "%" PRIu64, ops[i].ts), argv[c++] = nums[m++];
        }
        ok = send_request(b, R_SEED, room, len, 0, (int)c, argv, lens);
    }
    free(argv);
    free(lens);
    free(nums);
    return ok;
}

bool bus_presence_beat(struct bus *b, const char *room, size_t len, uint32_t ttl_ms, uint32_t n,
                       const char *const *ids, const char *const *jsons, const size_t *json_lens)
{
    size_t argc = 3 + 3 + 1 + 2 * (size_t)n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char keys[3][KEY_MAX], t[16];
    bool ok = false;
    if (argv && lens) {
        size_t c = eval_head(argv, lens, beat_lua, 3, presence_keys, keys, room, len);
        argv[c] = t, lens[c++] = NUM(t, "%u", ttl_ms);
        for (uint32_t i = 0; i < n; i++) {
            argv[c] = ids[i], lens[c++] = strlen(ids[i]);
            argv[c] = jsons[i], lens[c++] = json_lens[i];
        }
        ok = send_request(b, R_CHECK, room, len, 0, (int)c, argv, lens);
    }
    free(argv);
    free(lens);
    return ok;
}

/* ---- the links ---- */

static void on_link_event(void *arg, bool up)
{
    struct bus *b = arg;
    bool both = link_up(&b->cmd) && link_up(&b->sub);
    if (up && both && !b->up) {
        b->up = true;
        stat_add(&b->co->stats.redis_up, 1);
        if (!stat_get(&b->co->stats.redis_ever_up)) stat_add(&b->co->stats.redis_ever_up, 1);
        b->h.on_link(b->h.arg, true);
    } else if (!up && b->up) {
        b->up = false;
        stat_sub(&b->co->stats.redis_up, 1);
        /* one link without the other would leave rooms unsubscribed or commands unanswered:
         * both start over, and the application resubscribes once both are back */
        link_drop(&b->cmd, "the other link went down");
        link_drop(&b->sub, "the other link went down");
        b->h.on_link(b->h.arg, false);
    }
}

int bus_init(struct bus *b, struct core *co, const char *uri, uint32_t timeout_ms, const struct bus_handler *h)
{
    memset(b, 0, sizeof *b);
    b->co = co;
    b->h = *h;
    int rc = link_init(&b->cmd, co, 0, uri, timeout_ms, on_link_event, NULL, b);
    if (rc == 0) rc = link_init(&b->sub, co, 1, uri, timeout_ms, on_link_event, on_channel, b);
    return rc;
}

static void on_cqe(void *arg, struct io_uring_cqe *cqe)
{
    struct bus *b = arg;
    link_on_cqe(ud_idx(cqe->user_data) == 0 ? &b->cmd : &b->sub, cqe);
}

static uint32_t on_turn(void *arg)
{
    struct bus *b = arg;
    link_flush(&b->cmd);
    link_flush(&b->sub);
    return UINT32_MAX;
}

static void on_tick(void *arg)
{
    struct bus *b = arg;
    link_tick(&b->cmd);
    link_tick(&b->sub);
}

void bus_hooks(struct bus *b)
{
    core_on_cqe(b->co, UD_REDIS, on_cqe, b);
    core_on_turn(b->co, on_turn, b);
    core_on_tick(b->co, on_tick, b);
}

void bus_free(struct bus *b)
{
    link_free(&b->cmd);
    link_free(&b->sub);
}
