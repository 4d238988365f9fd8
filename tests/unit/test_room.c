/* test_room.c: rooms (src/room.c) on a real core: join (`joined`, presence), leave, re-join,
 * --max-room-members, --max-rooms, chat order and ids, ops acked only once the store made them
 * durable, concurrent ops transformed as ot.js's server does, element last-writer-wins, cursor
 * coalescing over --cursor-interval, and detached sessions leaving at the end of the turn (a
 * hung-up socket, and session_detach through the room API).
 *
 * Each test opens a rig (rig.h): one core wired as server.c's worker_main wires it, over a store
 * on a fresh temporary data dir; clients are socketpairs adopted by the core as WebSocket
 * connections. The test writes masked frames, turns the loop (bounded) and checks the JSON the
 * server sent. Where the room API is simpler to call directly (a session without a socket,
 * rooms_end_of_turn, room_describe), the test calls it on the rig's struct app. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json.h (through room.h) before jansson.h (through rig.h) */
#include "app.h"
#include "ot.h"
#include "room.h"
#include "store/store.h"

#include "rig.h"

static struct rig *open_default(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    return *state = rig_open(&cfg, 1);
}

/* room_describe's JSON for `room` (must exist); the caller json_decref's it. */
static json_t *describe(struct rig *r, const char *room)
{
    struct app *app = rig_app(r, 0);
    assert_true(room_describe(app, &app->out, room, strlen(room)));
    json_error_t je;
    json_t *d = json_loadb(app->out.buf, app->out.len, 0, &je);
    assert_non_null(d);
    return d;
}

static struct store_room *stored(struct rig *r, const char *room)
{
    struct store_room *sr = store_room_get(rig_app(r, 0)->store, room, strlen(room), false);
    assert_non_null(sr);
    return sr;
}

/* The participant object with this id in array a, or NULL. */
static json_t *participant(json_t *a, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(a, i, p) if (!strcmp(jstr(p, "id"), id)) return p;
    return NULL;
}


/* Two clients, a then b, in `room`; a has seen b's presence `joined`. */
struct pair {
    struct client *a, *b;
    char a_id[32], b_id[32];
};

static struct pair join_pair(struct rig *r, const char *room)
{
    struct pair p = { rig_connect(r, 0, "a"), rig_connect(r, 0, "b"), "", "" };
    snprintf(p.a_id, sizeof p.a_id, "%s", jstr(client_join(p.a, room), "self"));
    snprintf(p.b_id, sizeof p.b_id, "%s", jstr(client_join(p.b, room), "self"));
    client_expect(p.a, "presence");
    return p;
}
/* `joined` then `presence`: everything a join shows, to the joiner and to the others. */
static void test_join(void **state)
{
    struct rig *r = open_default(state);
    struct client *a = rig_connect(r, 0, "a"), *b = rig_connect(r, 0, "b");
    client_send(a, "{\"type\":\"join\",\"room\":\"lobby\",\"user\":{\"id\":\"u-ann\",\"name\":\"Ann\",\"color\":\"#f00\"}}");
    json_t *m = client_expect(a, "joined");
    char a_id[32];
    snprintf(a_id, sizeof a_id, "%s", jstr(m, "self"));
    assert_string_equal(jstr(m, "room"), "lobby");
    assert_int_equal(jint(m, "rev"), 0);
    assert_string_equal(jstr(m, "doc"), "");
    assert_int_equal(json_array_size(json_object_get(m, "elements")), 0);
    assert_int_equal(json_array_size(json_object_get(m, "chat")), 0);
    json_t *ps = json_object_get(m, "participants");
    assert_int_equal(json_array_size(ps), 1);
    json_t *me = json_array_get(ps, 0);
    assert_string_equal(jstr(me, "id"), a_id);
    assert_string_equal(jstr(me, "user"), "u-ann");
    assert_string_equal(jstr(me, "name"), "Ann");
    assert_string_equal(jstr(me, "color"), "#f00");

    m = client_join(b, "lobby");
    char b_id[32];
    snprintf(b_id, sizeof b_id, "%s", jstr(m, "self"));
    assert_string_not_equal(a_id, b_id);
    ps = json_object_get(m, "participants");
    assert_int_equal(json_array_size(ps), 2);
    assert_non_null(participant(ps, a_id));
    assert_string_equal(jstr(participant(ps, b_id), "user"), "b");
    assert_string_equal(jstr(participant(ps, b_id), "color"), "");   /* not given: empty */

    m = client_expect(a, "presence");
    assert_string_equal(jstr(m, "event"), "joined");
    json_t *p = json_object_get(m, "participant");
    assert_string_equal(jstr(p, "id"), b_id);
    assert_string_equal(jstr(p, "user"), "b");
    assert_string_equal(jstr(p, "name"), "b");
    client_barrier(b);                                   /* no presence about itself */
    client_barrier(a);
}

static void test_leave(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "room");
    struct client *a = p.a, *b = p.b;
    client_send(b, "{\"type\":\"leave\"}");
    json_t *m = client_expect(a, "presence");
    assert_string_equal(jstr(m, "event"), "left");
    assert_string_equal(jstr(json_object_get(m, "participant"), "id"), p.b_id);
    client_barrier(b);                                   /* leave has no reply */
    client_send(b, "{\"type\":\"chat\",\"text\":\"still here?\"}");
    client_expect_error(b, "not-joined", "chat");
    client_barrier(a);                                   /* and a got no chat */
    json_t *d = describe(r, "room");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 1);
    json_decref(d);
}

/* A join of the room one is in answers a fresh `joined` (the state as it is now) and tells the
 * others nothing. */
static void test_rejoin(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "room");
    struct client *a = p.a, *b = p.b;
    client_send(b, "{\"type\":\"chat\",\"text\":\"hi\"}");
    client_expect(a, "chat");
    client_expect(b, "chat");
    json_t *m = client_join(a, "room");
    assert_string_equal(jstr(m, "self"), p.a_id);
    assert_int_equal(json_array_size(json_object_get(m, "participants")), 2);
    json_t *chat = json_object_get(m, "chat");
    assert_int_equal(json_array_size(chat), 1);
    assert_string_equal(jstr(json_array_get(chat, 0), "text"), "hi");
    client_barrier(b);                                   /* no presence for a re-join */
}

static void test_room_full(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    cfg.max_room_members = 2;
    struct rig *r = *state = rig_open(&cfg, 1);
    struct client *a = rig_connect(r, 0, "a"), *b = rig_connect(r, 0, "b"), *c = rig_connect(r, 0, "c");
    client_join(a, "small");
    client_join(b, "small");
    client_expect(a, "presence");
    client_send(c, "{\"type\":\"join\",\"room\":\"small\"}");
    client_expect_error(c, "room-full", "join");
    client_send(c, "{\"type\":\"chat\",\"text\":\"x\"}");
    client_expect_error(c, "not-joined", "chat");
    client_barrier(a);                                   /* nobody saw c */
    client_barrier(b);
    client_send(b, "{\"type\":\"leave\"}");
    client_expect(a, "presence");
    json_t *m = client_join(c, "small");                 /* room for one more now */
    assert_int_equal(json_array_size(json_object_get(m, "participants")), 2);
}

static void test_max_rooms(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    cfg.max_rooms = 1;
    struct rig *r = *state = rig_open(&cfg, 1);
    struct client *a = rig_connect(r, 0, "a"), *b = rig_connect(r, 0, "b");
    client_join(a, "one");
    client_send(b, "{\"type\":\"join\",\"room\":\"two\"}");
    client_expect_error(b, "too-many-rooms", "join");
    client_join(b, "one");                               /* an existing room is not a new one */
    client_expect(a, "presence");
    client_send(a, "{\"type\":\"leave\"}");
    client_barrier(a);
    client_expect(b, "presence");
    client_send(b, "{\"type\":\"leave\"}");
    client_barrier(b);                                   /* both left: "one" is freed */
    client_join(b, "two");
    client_send(a, "{\"type\":\"join\",\"room\":\"one\"}");
    client_expect_error(a, "too-many-rooms", "join");
}

/* Chat goes to everyone, sender included, with the room's seq from 1 and the sender's id. */
static void test_chat(void **state)
{
    struct rig *r = open_default(state);
    struct client *cl[3] = { rig_connect(r, 0, "a"), rig_connect(r, 0, "b"), rig_connect(r, 0, "c") };
    char ids[3][32];
    for (int i = 0; i < 3; i++) snprintf(ids[i], sizeof ids[i], "%s", jstr(client_join(cl[i], "chat"), "self"));
    client_expect(cl[0], "presence");
    client_expect(cl[0], "presence");
    client_expect(cl[1], "presence");
    static const char *sends[3] = { "{\"type\":\"chat\",\"text\":\"one\",\"id\":\"m1\"}",
                                    "{\"type\":\"chat\",\"text\":\"two \\\"quoted\\\"\",\"id\":\"m2\"}",
                                    "{\"type\":\"chat\",\"text\":\"three\"}" };
    static const char *texts[3] = { "one", "two \"quoted\"", "three" }, *mids[3] = { "m1", "m2", NULL };
    static const int from[3] = { 0, 1, 0 };
    json_t *seen[3];
    for (int k = 0; k < 3; k++) {
        client_send(cl[from[k]], sends[k]);
        for (int i = 0; i < 3; i++) {                    /* everyone, the sender included */
            json_t *m = client_expect(cl[i], "chat");
            assert_int_equal(jint(m, "seq"), k + 1);
            assert_string_equal(jstr(m, "text"), texts[k]);
            assert_string_equal(jstr(m, "from"), ids[from[k]]);
            assert_true(jint(m, "ts") > 1600000000000);
            if (mids[k]) assert_string_equal(jstr(m, "id"), mids[k]);
            else assert_null(json_object_get(m, "id"));
            if (i == 2) seen[k] = json_incref(m);
        }
    }
    /* a later `joined` carries them, exactly as delivered */
    struct client *d = rig_connect(r, 0, "d");
    json_t *chat = json_object_get(client_join(d, "chat"), "chat");
    assert_int_equal(json_array_size(chat), 3);
    for (int k = 0; k < 3; k++) {
        assert_true(json_equal(json_array_get(chat, k), seen[k]));
        json_decref(seen[k]);
    }
}

/* An op is applied at once but acked (and sent to the others) only once the store has it
 * durably: in the turn that applied it, it is not durable and nothing is queued for the sender. */
static void test_op_ack_after_durable(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "doc");
    struct client *a = p.a, *b = p.b;
    struct store_room *sr = stored(r, "doc");
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"hello\"]}");
    int t = 0;
    while (doc_rev(store_room_doc(sr)) == 0 && t++ < RIG_MAX_TURNS) rig_turn(r);
    assert_int_equal(doc_rev(store_room_doc(sr)), 1);
    assert_int_equal(store_room_durable_rev(sr), 0);
    assert_true(outq_empty(&client_conn(a)->q));
    assert_true(outq_empty(&client_conn(b)->q));
    assert_int_equal(client_pending(a), 0);

    json_t *m = client_expect(a, "ack");
    assert_int_equal(jint(m, "rev"), 1);
    assert_int_equal(store_room_durable_rev(sr), 1);
    m = client_expect(b, "op");
    assert_int_equal(jint(m, "rev"), 1);
    assert_string_equal(jstr(m, "from"), p.a_id);
    assert_string_equal(jdump(json_object_get(m, "op")), "[\"hello\"]");
    client_barrier(a);                                   /* the sender gets no `op` */
    json_t *d = describe(r, "doc");
    assert_string_equal(jstr(d, "doc"), "hello");
    assert_int_equal(jint(d, "rev"), 1);
    json_decref(d);
}

/* ot.js's client: text after applying `received` while `pending` (based on the same revision)
 * is unacknowledged locally: transform(pending, received) = [pending', received']. */
static void client_view(const char *local, const char *pending, const char *received, char *out, size_t cap)
{
    ot_op p, rcv, p2, r2;
    ot_text t, u;
    ot_op *ops[4] = { &p, &rcv, &p2, &r2 };
    for (int i = 0; i < 4; i++) ot_op_init(ops[i]);
    ot_text_init(&t);
    ot_text_init(&u);
    assert_int_equal(ot_text_set(&t, local, strlen(local)), OT_OK);
    assert_int_equal(ot_op_parse(&rcv, received, strlen(received)), OT_OK);
    if (pending) {
        assert_int_equal(ot_op_parse(&p, pending, strlen(pending)), OT_OK);
        assert_int_equal(ot_transform(&p, &rcv, &p2, &r2), OT_OK);
        ot_op_swap(&rcv, &r2);
    }
    assert_int_equal(ot_apply(&rcv, &t, &u), OT_OK);
    assert_true(u.bytes < cap);
    memcpy(out, u.utf8, u.bytes);
    out[u.bytes] = 0;
    for (int i = 0; i < 4; i++) ot_op_free(ops[i]);
    ot_text_free(&t);
    ot_text_free(&u);
}

/* Two ops on revision 1: the second is transformed against the first, as ot.js's
 * Server.receiveOperation does (the incoming op's insert goes first on a tie), and both
 * clients, following ot.js's Client rules, end with the server's document. */
static void test_op_transform(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "ot");
    struct client *a = p.a, *b = p.b;
    client_send(a, "{\"type\":\"op\",\"rev\":0,\"op\":[\"hello world\"]}");
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 1);
    assert_int_equal(jint(client_expect(b, "op"), "rev"), 1);

    /* a: delete "hello ", append "!"; b (not having seen a's): insert "big ", append "?" */
    static const char op_a[] = "[-6,5,\"!\"]", op_b[] = "[6,\"big \",5,\"?\"]";
    client_sendf(a, "{\"type\":\"op\",\"rev\":1,\"op\":%s}", op_a);
    assert_int_equal(jint(client_expect(a, "ack"), "rev"), 2);      /* a's first, surely */
    client_sendf(b, "{\"type\":\"op\",\"rev\":1,\"op\":%s}", op_b);
    json_t *m = client_expect(b, "op");                             /* a's op reaches b first */
    assert_int_equal(jint(m, "rev"), 2);
    assert_string_equal(jdump(json_object_get(m, "op")), op_a);
    assert_int_equal(jint(client_expect(b, "ack"), "rev"), 3);
    m = client_expect(a, "op");
    assert_int_equal(jint(m, "rev"), 3);
    assert_string_equal(jstr(m, "from"), p.b_id);
    char b_prime[64];
    snprintf(b_prime, sizeof b_prime, "%s", jdump(json_object_get(m, "op")));
    assert_string_equal(b_prime, "[\"big \",5,\"?\",1]");

    json_t *d = describe(r, "ot");
    assert_string_equal(jstr(d, "doc"), "big world?!");
    assert_int_equal(jint(d, "rev"), 3);
    char view[64];
    client_view("world!", NULL, b_prime, view, sizeof view);         /* a: its op acked */
    assert_string_equal(view, jstr(d, "doc"));
    client_view("hello big world?", op_b, op_a, view, sizeof view);  /* b: its op in flight */
    assert_string_equal(view, jstr(d, "doc"));
    json_decref(d);
}

/* Elements: a higher version wins, an equal version with a lower versionNonce wins; a winner
 * goes to the others (not its sender), a loser to nobody; `joined` shows the winners. */
static void test_element_lww(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "canvas");
    struct client *a = p.a, *b = p.b;

    client_send(a, "{\"type\":\"element\",\"element\":{\"id\":\"e1\",\"version\":2,\"versionNonce\":5,\"x\":1}}");
    json_t *m = client_expect(b, "element");
    assert_string_equal(jstr(m, "from"), p.a_id);
    assert_int_equal(jint(json_object_get(m, "element"), "x"), 1);
    client_barrier(a);                                   /* not echoed to its sender */

    client_send(b, "{\"type\":\"element\",\"element\":{\"id\":\"e1\",\"version\":1,\"versionNonce\":0,\"x\":2}}");
    client_barrier(b);                                   /* a lower version loses silently */
    client_barrier(a);
    client_send(b, "{\"type\":\"element\",\"element\":{\"id\":\"e1\",\"version\":2,\"versionNonce\":3,\"x\":3}}");
    m = client_expect(a, "element");                     /* same version, lower nonce: wins */
    assert_string_equal(jstr(m, "from"), p.b_id);
    assert_int_equal(jint(json_object_get(m, "element"), "x"), 3);
    client_send(a, "{\"type\":\"element\",\"element\":{\"id\":\"e1\",\"version\":2,\"versionNonce\":4,\"x\":4}}");
    client_barrier(a);                                   /* higher nonce: loses */
    client_barrier(b);

    struct client *c = rig_connect(r, 0, "c");
    json_t *els = json_object_get(client_join(c, "canvas"), "elements");
    assert_int_equal(json_array_size(els), 1);
    assert_string_equal(jdump(json_array_get(els, 0)), "{\"id\":\"e1\",\"version\":2,\"versionNonce\":3,\"x\":3}");
}

/* Cursors: the first goes out at the end of its turn; two more within --cursor-interval reach
 * the others as one, the latest, once the interval since the first has passed. */
static void test_cursor_coalescing(void **state)
{
    struct config cfg;
    rig_config(&cfg);
    cfg.cursor_interval_ms = 200;
    struct rig *r = *state = rig_open(&cfg, 1);
    struct pair p = join_pair(r, "cur");
    struct client *a = p.a, *b = p.b;
    uint64_t t0 = clock_ms();
    client_send(a, "{\"type\":\"cursor\",\"pos\":1}");
    json_t *m = client_expect(b, "cursor");
    assert_string_equal(jstr(m, "from"), p.a_id);
    assert_int_equal(jint(m, "pos"), 1);
    assert_true(json_is_null(json_object_get(m, "sel")));

    client_send(a, "{\"type\":\"cursor\",\"pos\":2}");
    client_send(a, "{\"type\":\"cursor\",\"pos\":3,\"sel\":[3,4]}");
    m = client_expect(b, "cursor");
    uint64_t t1 = clock_ms();
    assert_int_equal(jint(m, "pos"), 3);
    assert_string_equal(jdump(json_object_get(m, "sel")), "[3,4]");
    assert_true(t1 - t0 >= cfg.cursor_interval_ms);
    client_none(b, 30);                                  /* pos 2 never comes */
    client_barrier(a);                                   /* nor to the sender */
}

/* A hung-up connection's session is detached in the turn that saw the EOF, stays a member
 * until the end of that turn (the next turn's start), then leaves with `presence` left. */
static void test_detach_on_close(void **state)
{
    struct rig *r = open_default(state);
    struct pair p = join_pair(r, "bye");
    struct client *a = p.a, *b = p.b;
    client_hangup(a);
    int t = 0;
    while (client_conn(a) && t++ < RIG_MAX_TURNS) rig_turn(r);
    assert_null(client_conn(a));
    json_t *d = describe(r, "bye");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 2);
    json_decref(d);
    assert_int_equal(client_pending(b), 0);
    json_t *m = client_expect(b, "presence");
    assert_string_equal(jstr(m, "event"), "left");
    assert_string_equal(jstr(json_object_get(m, "participant"), "id"), p.a_id);
    d = describe(r, "bye");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 1);
    json_decref(d);
}

/* The room API called directly with a session that has no connection: its errors, its
 * broadcasts as a real member sees them, room_describe, and session_detach leaving at
 * rooms_end_of_turn. */
static void test_room_api(void **state)
{
    struct rig *r = open_default(state);
    struct app *app = rig_app(r, 0);
    jw *w = &app->out;
    struct client *a = rig_connect(r, 0, "a");
    client_join(a, "api");
    struct session *s = session_new(app);
    assert_non_null(s);
    struct user_info u = { .id = "u-s", .id_len = 3, .name = "Headless", .name_len = 8, .color = "", .color_len = 0 };
    uint64_t rev;
    ot_op op;
    ot_op_init(&op);
    assert_int_equal(ot_op_parse(&op, "[\"x\"]", 5), OT_OK);
    assert_int_equal(room_chat(app, w, s, "x", 1, NULL, 0, false), ERR_NOT_JOINED);
    assert_int_equal(room_cursor(app, s, "{}", 2), ERR_NOT_JOINED);
    assert_int_equal(room_element(app, w, s, "e", 1, 1, 0, "{\"id\":\"e\"}", 10), ERR_NOT_JOINED);
    assert_int_equal(room_op(app, w, s, 0, &op, NULL, 0, 0, &rev), ERR_NOT_JOINED);
    assert_int_equal(room_join(app, w, s, "no room", 7, &u), ERR_BAD_ROOM);
    assert_int_equal(room_join(app, w, s, "", 0, &u), ERR_BAD_ROOM);
    assert_false(room_describe(app, w, "nowhere", 7));

    assert_int_equal(room_join(app, w, s, "api", 3, &u), ERR_NONE);
    json_t *m = client_expect(a, "presence");
    assert_string_equal(jstr(m, "event"), "joined");
    assert_string_equal(jstr(json_object_get(m, "participant"), "id"), s->id);
    assert_string_equal(jstr(json_object_get(m, "participant"), "name"), "Headless");
    char big[5000];
    memset(big, 'x', sizeof big);
    assert_true(rig_cfg(r)->max_chat_bytes < sizeof big);
    assert_int_equal(room_chat(app, w, s, big, rig_cfg(r)->max_chat_bytes + 1, NULL, 0, false), ERR_TOO_LARGE);
    assert_int_equal(room_chat(app, w, s, "from the API", 12, "k", 1, true), ERR_NONE);
    m = client_expect(a, "chat");
    assert_string_equal(jstr(m, "from"), s->id);
    assert_string_equal(jstr(m, "id"), "k");
    assert_int_equal(jint(m, "seq"), 1);
    assert_int_equal(room_op(app, w, s, 0, &op, NULL, 0, 0, &rev), ERR_NONE);
    assert_int_equal(rev, 1);
    assert_int_equal(jint(client_expect(a, "op"), "rev"), 1);   /* once durable; nobody to ack */
    ot_op_free(&op);

    json_t *d = describe(r, "api");
    assert_string_equal(jstr(d, "doc"), "x");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 2);
    assert_non_null(participant(json_object_get(d, "participants"), s->id));
    json_decref(d);
    char s_id[32];
    snprintf(s_id, sizeof s_id, "%s", s->id);
    session_detach(app, s);                              /* still a member until the turn ends */
    d = describe(r, "api");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 2);
    json_decref(d);
    rooms_end_of_turn(app, w);                           /* frees s */
    m = client_expect(a, "presence");
    assert_string_equal(jstr(m, "event"), "left");
    assert_string_equal(jstr(json_object_get(m, "participant"), "id"), s_id);
    d = describe(r, "api");
    assert_int_equal(json_array_size(json_object_get(d, "participants")), 1);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_join, rig_teardown),
        cmocka_unit_test_teardown(test_leave, rig_teardown),
        cmocka_unit_test_teardown(test_rejoin, rig_teardown),
        cmocka_unit_test_teardown(test_room_full, rig_teardown),
        cmocka_unit_test_teardown(test_max_rooms, rig_teardown),
        cmocka_unit_test_teardown(test_chat, rig_teardown),
        cmocka_unit_test_teardown(test_op_ack_after_durable, rig_teardown),
        cmocka_unit_test_teardown(test_op_transform, rig_teardown),
        cmocka_unit_test_teardown(test_element_lww, rig_teardown),
        cmocka_unit_test_teardown(test_cursor_coalescing, rig_teardown),
        cmocka_unit_test_teardown(test_detach_on_close, rig_teardown),
        cmocka_unit_test_teardown(test_room_api, rig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
