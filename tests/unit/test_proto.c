/* test_proto.c: the /ws protocol's parsing and checking (src/proto.c) through real sockets:
 * bad JSON and binary frames (bad-json, the connection stays open), unknown types, every
 * message type's missing or mistyped fields (bad-message, with the right `ref`), bad room names,
 * not-joined, --rate-limit, op validation (bad-op, rev-future), cid/cseq resubmission (acked
 * with the original revision, applied once), a message over the JSON token limit (too-large),
 * and a join for a room of the other core (the connection is handed over, the messages after
 * the join are answered there, in order).
 *
 * Each test opens a rig (rig.h): a core (two for the handover) wired as server.c's worker_main
 * wires it, over a store on a fresh temporary data dir; clients are socketpairs adopted as
 * WebSocket connections. Messages go in as masked text frames and every assertion reads the JSON
 * the server sent back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json.h (through app.h) before jansson.h (through rig.h) */
#include "app.h"
#include "room.h"
#include "shard.h"
#include "store/store.h"
#include "ws.h"

#include "rig.h"

static struct rig *open_default(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    return *state = rig_open(&cfg, 1);
}

/* Sends `json` and expects the error code/ref for it as the next message (fails at the
 * caller's line, naming the message). */
#define expect_refused(cl, json, code, ref) expect_refused_at((cl), (json), (code), (ref), __FILE__, __LINE__)
static void expect_refused_at(struct client *cl, const char *json, const char *code, const char *ref, const char *file,
                              int line)
{
    client_send(cl, json);
    json_t *m = client_next_at(cl, file, line);
    const char *t = json_string_value(json_object_get(m, "type"));
    const char *c = json_string_value(json_object_get(m, "code"));
    json_t *rf = json_object_get(m, "ref");
    bool ref_ok = ref ? json_is_string(rf) && !strcmp(json_string_value(rf), ref) : json_is_null(rf);
    if (!t || strcmp(t, "error") || !c || strcmp(c, code) || !ref_ok) {
        print_error("%s: expected error %s (ref %s), got %s\n", json, code, ref ? ref : "null", jdump(m));
        _fail(file, line);
    }
}

static void test_bad_json(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    static const char *bad[] = { "{", "", "[1]", "\"join\"", "null", "{\"type\":\"join\",}", "{} {}", "{\"a\":tru}",
                                 "{\"type\":\"join\",\"room\":\"x\"} x", "{'type':'join'}" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_refused(a, bad[i], "bad-json", NULL);
    assert_non_null(client_conn(a));                     /* still open, and it works */
    json_t *m = client_join(a, "after");
    assert_int_equal(jint(m, "rev"), 0);
}

static void test_binary_frame(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    static const char join[] = "{\"type\":\"join\",\"room\":\"bin\"}";
    client_send_frame(a, WS_OP_BINARY, join, sizeof join - 1);
    client_expect_error(a, "bad-json", NULL);
    client_join(a, "bin");                               /* the same as text is fine */
}

static void test_unknown_type(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    static const char *odd[] = { "{}", "{\"type\":\"dance\"}", "{\"type\":5}", "{\"type\":null}", "{\"type\":\"JOIN\"}",
                                 "{\"type\":\"joined\",\"room\":\"x\"}", "{\"type\":\"ack\",\"rev\":1}", "{\"room\":\"x\"}" };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) expect_refused(a, odd[i], "unknown-type", NULL);
    client_join(a, "known");
}

static void test_bad_room(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    char name[200], msg[300];
    static const char *bad[] = { "{\"type\":\"join\"}", "{\"type\":\"join\",\"room\":5}",
                                 "{\"type\":\"join\",\"room\":null}", "{\"type\":\"join\",\"room\":\"\"}",
                                 "{\"type\":\"join\",\"room\":\"a b\"}", "{\"type\":\"join\",\"room\":\"a/b\"}",
                                 "{\"type\":\"join\",\"room\":\"caf\\u00e9\"}", "{\"type\":\"join\",\"room\":[\"x\"]}" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_refused(a, bad[i], "bad-room", "join");
    memset(name, 'n', 129);
    name[129] = 0;
    snprintf(msg, sizeof msg, "{\"type\":\"join\",\"room\":\"%s\"}", name);
    expect_refused(a, msg, "bad-room", "join");          /* 129 characters */
    name[128] = 0;
    client_join(a, name);                                /* 128 is the limit */
    client_join(a, "A-z_0.9");
}

/* Every message type's fields: missing, of the wrong type or out of range. */
static void test_bad_message(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    char long_str[200], msg[1024];
    memset(long_str, 'u', 129);
    long_str[129] = 0;
    /* join: user */
    static const char *join[] = { "{\"type\":\"join\",\"room\":\"r\",\"user\":\"ann\"}",
                                  "{\"type\":\"join\",\"room\":\"r\",\"user\":[1]}",
                                  "{\"type\":\"join\",\"room\":\"r\",\"user\":{\"id\":5}}",
                                  "{\"type\":\"join\",\"room\":\"r\",\"user\":{\"name\":true}}",
                                  "{\"type\":\"join\",\"room\":\"r\",\"user\":{\"color\":{}}}",
                                  "{\"type\":\"join\",\"room\":\"r\",\"user\":{\"name\":\"\\ud800\"}}" };
    for (size_t i = 0; i < sizeof join / sizeof *join; i++) expect_refused(a, join[i], "bad-message", "join");
    snprintf(msg, sizeof msg, "{\"type\":\"join\",\"room\":\"r\",\"user\":{\"name\":\"%s\"}}", long_str);
    expect_refused(a, msg, "bad-message", "join");
    client_send(a, "{\"type\":\"join\",\"room\":\"r\",\"user\":null}");   /* null: no user */
    assert_string_equal(jstr(json_array_get(json_object_get(client_expect(a, "joined"), "participants"), 0), "user"), "");

    static const char *chat[] = { "{\"type\":\"chat\"}", "{\"type\":\"chat\",\"text\":5}", "{\"type\":\"chat\",\"text\":null}",
                                  "{\"type\":\"chat\",\"text\":\"x\",\"id\":5}", "{\"type\":\"chat\",\"text\":\"\\udc00\"}" };
    for (size_t i = 0; i < sizeof chat / sizeof *chat; i++) expect_refused(a, chat[i], "bad-message", "chat");
    snprintf(msg, sizeof msg, "{\"type\":\"chat\",\"text\":\"x\",\"id\":\"%s\"}", long_str);
    expect_refused(a, msg, "bad-message", "chat");

    static const char *cursor[] = { "{\"type\":\"cursor\"}", "{\"type\":\"cursor\",\"pos\":-1}",
                                    "{\"type\":\"cursor\",\"pos\":\"1\"}", "{\"type\":\"cursor\",\"pos\":1.5}",
                                    "{\"type\":\"cursor\",\"pos\":1,\"sel\":[\"\\ud800\"]}" };
    for (size_t i = 0; i < sizeof cursor / sizeof *cursor; i++) expect_refused(a, cursor[i], "bad-message", "cursor");
    memset(long_str, '1', 199);
    long_str[199] = 0;
    snprintf(msg, sizeof msg, "{\"type\":\"cursor\",\"pos\":1,\"sel\":[%s,%s,%s]}", long_str, long_str, long_str);
    expect_refused(a, msg, "bad-message", "cursor");     /* sel over 512 bytes */

    static const char *element[] = {
        "{\"type\":\"element\"}", "{\"type\":\"element\",\"element\":\"e\"}", "{\"type\":\"element\",\"element\":{}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"\",\"version\":1}}",
        "{\"type\":\"element\",\"element\":{\"id\":5,\"version\":1}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"e\"}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"e\",\"version\":1.5}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"e\",\"version\":1,\"versionNonce\":\"0\"}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"e\",\"version\":1,\"isDeleted\":\"yes\"}}",
        "{\"type\":\"element\",\"element\":{\"id\":\"e\",\"version\":1,\"label\":\"\\ud800\"}}" };
    for (size_t i = 0; i < sizeof element / sizeof *element; i++) expect_refused(a, element[i], "bad-message", "element");

    static const char *op[] = { "{\"type\":\"op\",\"op\":[\"x\"]}", "{\"type\":\"op\",\"rev\":\"0\",\"op\":[\"x\"]}",
                                "{\"type\":\"op\",\"rev\":0.5,\"op\":[\"x\"]}", "{\"type\":\"op\",\"rev\":0}" };
    for (size_t i = 0; i < sizeof op / sizeof *op; i++) expect_refused(a, op[i], "bad-message", "op");

    /* nothing of the above reached the room */
    json_t *m = client_join(a, "r");
    assert_int_equal(jint(m, "rev"), 0);
    assert_int_equal(json_array_size(json_object_get(m, "chat")), 0);
    assert_int_equal(json_array_size(json_object_get(m, "elements")), 0);
}

static void test_not_joined(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    expect_refused(a, "{\"type\":\"chat\",\"text\":\"hi\"}", "not-joined", "chat");
    expect_refused(a, "{\"type\":\"cursor\",\"pos\":0}", "not-joined", "cursor");
    expect_refused(a, "{\"type\":\"element\",\"element\":{\"id\":\"e\",\"version\":1}}", "not-joined", "element");
    expect_refused(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"x\"]}", "not-joined", "op");
    expect_refused(a, "{\"type\":\"leave\"}", "not-joined", "leave");
    client_join(a, "here");
    client_send(a, "{\"type\":\"leave\"}");
    expect_refused(a, "{\"type\":\"chat\",\"text\":\"hi\"}", "not-joined", "chat");   /* after leaving, too */
    expect_refused(a, "{\"type\":\"leave\"}", "not-joined", "leave");
}

/* --rate-limit 2: a burst of two, the third is dropped with rate-limited; tokens come back at
 * two per second. */
static void test_rate_limit(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    cfg.rate_limit = 2;
    struct rig *r = *state = rig_open(&cfg, 1);
    struct client *a = rig_connect(r, 0, "a");
    client_send(a, "{\"type\":\"join\",\"room\":\"rl\"}");
    client_send(a, "{\"type\":\"chat\",\"text\":\"one\"}");
    client_send(a, "{\"type\":\"chat\",\"text\":\"two\"}");
    client_expect(a, "joined");
    assert_int_equal(jint(client_expect(a, "chat"), "seq"), 1);
    client_expect_error(a, "rate-limited", NULL);
    client_none(a, 3);
    uint64_t t0 = clock_ms();
    while (clock_ms() - t0 < 600) rig_turn(r);           /* 1.2 tokens */
    client_send(a, "{\"type\":\"chat\",\"text\":\"three\"}");
    json_t *m = client_expect(a, "chat");
    assert_int_equal(jint(m, "seq"), 2);                 /* "two" was dropped */
    assert_string_equal(jstr(m, "text"), "three");
}

/* Ops that are not ot.js TextOperations or do not fit the document: refused, doc unchanged. */
static void test_op_validation(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    client_join(a, "ops");
    static const char *bad_op[] = { "\"abc\"", "{\"x\":1}", "[1.5]", "[\"\"]", "[0]", "[\"\\ud800\"]", "[true]",
                                    "[-1]", "[1]", "[2,\"x\"]", "null" };
    char msg[128];
    for (size_t i = 0; i < sizeof bad_op / sizeof *bad_op; i++) {
        snprintf(msg, sizeof msg, "{\"type\":\"op\",\"rev\":0,\"op\":%s}", bad_op[i]);
        expect_refused(a, msg, "bad-op", "op");
    }
    expect_refused(a, "{\"type\":\"op\",\"rev\":1,\"op\":[\"x\"]}", "rev-future", "op");
    expect_refused(a, "{\"type\":\"op\",\"rev\":99,\"op\":[\"x\"]}", "rev-future", "op");
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"ab\"]}");
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    expect_refused(a, "{\"type\":\"op\",\"rev\":1,\"op\":[3]}", "bad-op", "op");        /* doc is 2 long */
    expect_refused(a, "{\"type\":\"op\",\"rev\":2,\"op\":[2,\"c\"]}", "rev-future", "op");
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"c\"]}");                      /* old base: fine */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 2);
    client_send(a, "{\"type\":\"join\",\"room\":\"ops\"}");
    json_t *m = client_expect(a, "joined");
    assert_string_equal(jstr(m, "doc"), "cab");
    assert_int_equal(jint(m, "rev"), 2);
}

/* cid/cseq: a resubmitted op is acked with the revision it became and applied once, whether the
 * original is durable yet or not; an older cseq too; malformed pairs are bad-message. */
static void test_cid_cseq(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a"), *b = rig_connect(r, 0, "b");
    client_join(a, "idem");
    client_join(b, "idem");
    client_expect(a, "presence");
    static const char op1[] = "{\"type\":\"op\",\"rev\":0,\"op\":[\"a\"],\"cid\":\"tab-1\",\"cseq\":1}";
    client_send(a, op1);
    client_send(a, op1);                                 /* same turn: the first is not durable yet */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    json_t *m = client_expect(b, "op");
    assert_int_equal(jint(m, "rev"), 1);
    client_barrier(b);                                   /* only one op */
    client_send(a, op1);                                 /* durable by now */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"a\"],\"cid\":\"tab-1\",\"cseq\":0}");   /* older */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"z\"],\"cid\":\"tab-2\",\"cseq\":1}");   /* another cid */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 2);
    client_send(a, "{\"type\":\"op\",\"rev\":1,\"op\":[1,\"b\"],\"cid\":\"tab-1\",\"cseq\":2}"); /* next */
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 3);
    assert_int_equal(jint(client_expect(b, "op"), "rev"), 2);
    assert_int_equal(jint(client_expect(b, "op"), "rev"), 3);
    client_barrier(b);

    char long_cid[80], msg[256];
    memset(long_cid, 'c', 65);
    long_cid[65] = 0;
    snprintf(msg, sizeof msg, "{\"type\":\"op\",\"rev\":3,\"op\":[3,\"!\"],\"cid\":\"%s\",\"cseq\":1}", long_cid);
    expect_refused(a, msg, "bad-message", "op");
    static const char *bad[] = { "\"cid\":\"tab-1\"", "\"cseq\":1", "\"cid\":\"\",\"cseq\":1", "\"cid\":\"t\",\"cseq\":-1",
                                 "\"cid\":\"t\",\"cseq\":\"1\"", "\"cid\":5,\"cseq\":1", "\"cid\":\"t\",\"cseq\":1.5" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(msg, sizeof msg, "{\"type\":\"op\",\"rev\":3,\"op\":[3,\"!\"],%s}", bad[i]);
        expect_refused(a, msg, "bad-message", "op");
    }
    client_barrier(b);                                   /* none of them applied */
    client_send(a, "{\"type\":\"join\",\"room\":\"idem\"}");
    m = client_expect(a, "joined");
    assert_string_equal(jstr(m, "doc"), "zab");
    assert_int_equal(jint(m, "rev"), 3);
}

/* More than 65,536 JSON tokens: too-large, and the connection goes on. */
static void test_too_many_tokens(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a");
    client_join(a, "big");
    size_t n = 70000, len = 0;
    char *msg = malloc(2 * n + 64);
    assert_non_null(msg);
    len += (size_t)sprintf(msg, "{\"type\":\"chat\",\"text\":\"x\",\"pad\":[");
    for (size_t i = 0; i < n; i++) msg[len++] = '0', msg[len++] = ',';
    len += (size_t)sprintf(msg + len - 1, "]}") - 1;
    client_send_frame(a, WS_OP_TEXT, msg, len);
    free(msg);
    client_expect_error(a, "too-large", NULL);
    client_send(a, "{\"type\":\"chat\",\"text\":\"small\"}");
    assert_int_equal(jint(client_expect(a, "chat"), "seq"), 1);   /* the big one was not sent */
}

/* Two cores: a join for a room the other core owns moves the connection there (its self id
 * says so); a chat sent in the same write as the join is answered by the new owner, after the
 * `joined`; a member already on that core sees both. */
static void test_join_other_core(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    struct rig *r = *state = rig_open(&cfg, 2);
    char room[16];
    int k = 0;
    do snprintf(room, sizeof room, "room-%d", k++);
    while (shard_owner(room, strlen(room), 2) != 1);
    struct client *local = rig_connect(r, 1, "local"), *mover = rig_connect(r, 0, "mover");
    assert_true(strncmp(jstr(client_join(local, room), "self"), "1-", 2) == 0);
    client_sendf(mover, "{\"type\":\"join\",\"room\":\"%s\",\"user\":{\"name\":\"m\"}}", room);
    client_send(mover, "{\"type\":\"chat\",\"text\":\"right after\"}");
    json_t *m = client_expect(mover, "joined");
    char self[32];
    snprintf(self, sizeof self, "%s", jstr(m, "self"));
    assert_true(strncmp(self, "1-", 2) == 0);            /* a session of core 1 */
    assert_int_equal(json_array_size(json_object_get(m, "participants")), 2);
    m = client_expect(mover, "chat");
    assert_string_equal(jstr(m, "from"), self);
    assert_int_equal(jint(m, "seq"), 1);
    assert_null(client_conn(mover));                     /* gone from core 0 */
    m = client_expect(local, "presence");
    assert_string_equal(jstr(json_object_get(m, "participant"), "id"), self);
    assert_string_equal(jstr(client_expect(local, "chat"), "text"), "right after");
    client_barrier(mover);                               /* core 1 answers it from now on */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_json, rig_teardown),
        cmocka_unit_test_teardown(test_binary_frame, rig_teardown),
        cmocka_unit_test_teardown(test_unknown_type, rig_teardown),
        cmocka_unit_test_teardown(test_bad_room, rig_teardown),
        cmocka_unit_test_teardown(test_bad_message, rig_teardown),
        cmocka_unit_test_teardown(test_not_joined, rig_teardown),
        cmocka_unit_test_teardown(test_rate_limit, rig_teardown),
        cmocka_unit_test_teardown(test_op_validation, rig_teardown),
        cmocka_unit_test_teardown(test_cid_cseq, rig_teardown),
        cmocka_unit_test_teardown(test_too_many_tokens, rig_teardown),
        cmocka_unit_test_teardown(test_join_other_core, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
