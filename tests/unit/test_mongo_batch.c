/* test_mongo_batch.c: the MongoDB back end's batch logic (src/store/mongo_batch.c) over a database
 * that enforces the unique indexes the way mongod does (an ordered insert stops at the first
 * duplicate key, error 11000). CongoServer, the wire-protocol server the integration tests
 * run (tests/integration/test_mongo.py), does not enforce unique indexes, so duplicate keys are
 * covered here: our own retried batch (the same op already stored: written), another writer's
 * op at our revision (the room is fenced: its later ops and snapshots are not written, in this
 * batch or the next, other rooms are), and a failure that is not a duplicate (the batch is not
 * ok: retried whole). Canvas elements replace their (room, id) in order. Also the ot.js
 * JSON <-> BSON array conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/mongo_batch.h"
#include "store/record.h"

/* ---- a database with unique (room, rev|seq) per collection ---- */

#define FAKE_MAX 256
struct fake_db {
    bson_t *docs[MONGO_NCOLL][FAKE_MAX];
    size_t n[MONGO_NCOLL];
    size_t fail_at;          /* a non-duplicate failure when this many docs were inserted (0: never) */
    size_t inserted_total;
    unsigned insert_calls;
};

static void key_of(enum mongo_coll coll, const bson_t *d, char *room, size_t roomlen, int64_t *k)
{
    bson_iter_t it;
    uint32_t n = 0;
    assert_true(bson_iter_init_find(&it, d, "room"));
    const char *r = bson_iter_utf8(&it, &n);
    snprintf(room, roomlen, "%.*s", (int)n, r);
    if (coll == MONGO_ELEMENTS) {               /* keyed by id: its length and first byte will do here */
        assert_true(bson_iter_init_find(&it, d, "id"));
        const char *id = bson_iter_utf8(&it, &n);
        *k = (int64_t)n << 8 | (unsigned char)id[0];
        return;
    }
    assert_true(bson_iter_init_find(&it, d, coll == MONGO_CHAT ? "seq" : "rev"));
    *k = bson_iter_as_int64(&it);
}

static const bson_t *fake_find(struct fake_db *f, enum mongo_coll coll, const char *room, int64_t k)
{
    for (size_t i = 0; i < f->n[coll]; i++) {
        char r[160];
        int64_t kk;
        key_of(coll, f->docs[coll][i], r, sizeof r, &kk);
        if (!strcmp(r, room) && kk == k) return f->docs[coll][i];
    }
    return NULL;
}

static bool fake_insert(void *arg, enum mongo_coll coll, const bson_t *const *docs, size_t n, size_t *done, bool *dup,
                        char *msg, size_t msglen)
{
    struct fake_db *f = arg;
    f->insert_calls++;
    *done = 0;
    *dup = false;
    for (size_t i = 0; i < n; i++) {
        if (f->fail_at && f->inserted_total == f->fail_at) {
            f->fail_at = 0;
            snprintf(msg, msglen, "connection reset (injected)");
            return false;
        }
        char room[160];
        int64_t k;
        key_of(coll, docs[i], room, sizeof room, &k);
        if (fake_find(f, coll, room, k)) {
            *dup = true;
            snprintf(msg, msglen, "E11000 duplicate key error (room, key)");
            return false;
        }
        assert_true(f->n[coll] < FAKE_MAX);
        f->docs[coll][f->n[coll]++] = bson_copy(docs[i]);
        f->inserted_total++;
        (*done)++;
    }
    return true;
}

static bool fake_find_op(void *arg, const char *room, uint64_t rev, bson_t *out, bool *found, char *msg, size_t msglen)
{
    (void)msg;
    (void)msglen;
    const bson_t *d = fake_find(arg, MONGO_OPS, room, (int64_t)rev);
    *found = d != NULL;
    if (d) bson_copy_to_excluding_noinit(d, out, "_id", NULL);
    return true;
}

static bool fake_drop(void *arg, const char *room, uint64_t rev, char *msg, size_t msglen)
{
    (void)msg;
    (void)msglen;
    struct fake_db *f = arg;
    size_t k = 0;
    for (size_t i = 0; i < f->n[MONGO_SNAPSHOTS]; i++) {
        char r[160];
        int64_t kk;
        key_of(MONGO_SNAPSHOTS, f->docs[MONGO_SNAPSHOTS][i], r, sizeof r, &kk);
        if (!strcmp(r, room) && kk < (int64_t)rev) bson_destroy(f->docs[MONGO_SNAPSHOTS][i]);
        else f->docs[MONGO_SNAPSHOTS][k++] = f->docs[MONGO_SNAPSHOTS][i];
    }
    f->n[MONGO_SNAPSHOTS] = k;
    return true;
}

static bool fake_put_elements(void *arg, const bson_t *const *docs, size_t n, char *msg, size_t msglen)
{
    (void)msg;
    (void)msglen;
    struct fake_db *f = arg;
    for (size_t i = 0; i < n; i++) {
        char room[160];
        int64_t k;
        key_of(MONGO_ELEMENTS, docs[i], room, sizeof room, &k);
        size_t j = 0;
        for (; j < f->n[MONGO_ELEMENTS]; j++) {
            char r[160];
            int64_t kk;
            key_of(MONGO_ELEMENTS, f->docs[MONGO_ELEMENTS][j], r, sizeof r, &kk);
            if (!strcmp(r, room) && kk == k) break;
        }
        if (j == f->n[MONGO_ELEMENTS]) f->n[MONGO_ELEMENTS]++;
        else bson_destroy(f->docs[MONGO_ELEMENTS][j]);
        f->docs[MONGO_ELEMENTS][j] = bson_copy(docs[i]);
    }
    return true;
}

static void fake_free(struct fake_db *f)
{
    for (int c = 0; c < MONGO_NCOLL; c++)
        for (size_t i = 0; i < f->n[c]; i++) bson_destroy(f->docs[c][i]);
}

static struct mongo_db db_of(struct fake_db *f)
{
    return (struct mongo_db){ f, fake_insert, fake_find_op, fake_drop, fake_put_elements };
}

static void add_op(struct store_buf *b, const char *room, uint64_t rev, const char *op, const char *from)
{
    assert_true(store_encode_op_cid(b, room, strlen(room), rev, 1000 + rev, from, strlen(from), op, strlen(op),
                                    rev == 2 ? "cli" : NULL, rev == 2 ? 3 : 0, 7));
}

static size_t count_room(struct fake_db *f, enum mongo_coll c, const char *room)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n[c]; i++) {
        char r[160];
        int64_t k;
        key_of(c, f->docs[c][i], r, sizeof r, &k);
        n += !strcmp(r, room);
    }
    return n;
}

/* ---- tests ---- */

static void test_plain_batch(void **state)
{
    (void)state;
    struct fake_db f = { 0 };
    struct mongo_db db = db_of(&f);
    struct mongo_fences fences = { 0 };
    struct mongo_batch_result res = { 0 };
    struct store_buf b = { 0 };
    add_op(&b, "r", 1, "[\"héllo \\\"x\\\"\"]", "alice");
    add_op(&b, "r", 2, "[3,-2,\"\\n\"]", "bob");
    assert_true(store_encode_chat(&b, "r", 1, 1, 5, "{\"type\":\"chat\",\"seq\":1}", 23));
    assert_true(store_encode_snapshot(&b, "r", 1, 2, 1, "hé\n", 4));
    assert_true(store_encode_element(&b, "r", 1, "e1", 2, 1, 5, "{\"id\":\"e1\",\"v\":1}", 17));
    assert_true(store_encode_element(&b, "r", 1, "f22", 3, 1, 0, "{\"id\":\"f22\"}", 12));
    assert_true(store_encode_element(&b, "r", 1, "e1", 2, 2, -3, "{\"id\":\"e1\",\"v\":2}", 17));
    mongo_write_batch(&db, &fences, b.p, b.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.elements, 3);
    assert_int_equal(f.n[MONGO_ELEMENTS], 2);             /* e1 replaced by its later winner */
    const bson_t *elem = fake_find(&f, MONGO_ELEMENTS, "r", 2 << 8 | 'e');
    assert_non_null(elem);
    bson_iter_t eit;
    assert_true(bson_iter_init_find(&eit, elem, "version") && bson_iter_as_int64(&eit) == 2);
    assert_true(bson_iter_init_find(&eit, elem, "nonce") && bson_iter_as_int64(&eit) == -3);
    assert_true(bson_iter_init_find(&eit, elem, "element") && !strcmp(bson_iter_utf8(&eit, NULL), "{\"id\":\"e1\",\"v\":2}"));
    assert_int_equal(res.ops, 2);
    assert_int_equal(res.snapshots, 1);
    assert_int_equal(res.chats, 1);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(res.fenced.n, 0);
    /* the op is a BSON array of strings and integers; cid/cseq ride along when given */
    const bson_t *d = fake_find(&f, MONGO_OPS, "r", 2);
    assert_non_null(d);
    bson_iter_t it, el;
    assert_true(bson_iter_init_find(&it, d, "op") && BSON_ITER_HOLDS_ARRAY(&it));
    assert_true(bson_iter_recurse(&it, &el) && bson_iter_next(&el) && bson_iter_as_int64(&el) == 3);
    assert_true(bson_iter_next(&el) && bson_iter_as_int64(&el) == -2);
    assert_true(bson_iter_next(&el) && BSON_ITER_HOLDS_UTF8(&el) && !strcmp(bson_iter_utf8(&el, NULL), "\n"));
    assert_true(bson_iter_init_find(&it, d, "cid") && !strcmp(bson_iter_utf8(&it, NULL), "cli"));
    assert_true(bson_iter_init_find(&it, d, "cseq") && bson_iter_as_int64(&it) == 7);
    assert_true(bson_iter_init_find(&it, d, "ts") && bson_iter_as_int64(&it) == 1002);
    store_buf_free(&b);
    mongo_fences_free(&fences);
    mongo_fences_free(&res.fenced);
    fake_free(&f);
}

/* A batch whose first try failed half way (connection lost) is sent again: what went in the
 * first time comes back as duplicate keys of the same ops, which count as written. */
static void test_retry_after_partial_failure(void **state)
{
    (void)state;
    struct fake_db f = { .fail_at = 3 };
    struct mongo_db db = db_of(&f);
    struct mongo_fences fences = { 0 };
    struct mongo_batch_result res = { 0 };
    struct store_buf b = { 0 };
    for (uint64_t r = 1; r <= 5; r++) add_op(&b, "r", r, "[\"x\"]", "alice");
    mongo_write_batch(&db, &fences, b.p, b.len, &res);
    assert_false(res.ok);
    assert_non_null(strstr(res.msg, "connection reset"));
    assert_int_equal(f.n[MONGO_OPS], 3);
    mongo_write_batch(&db, &fences, b.p, b.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.duplicates, 3);
    assert_int_equal(res.ops, 2);
    assert_int_equal(res.fenced.n, 0);
    assert_int_equal(f.n[MONGO_OPS], 5);
    /* and once more: everything is a duplicate, still fine */
    mongo_write_batch(&db, &fences, b.p, b.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.duplicates, 5);
    store_buf_free(&b);
    mongo_fences_free(&fences);
    mongo_fences_free(&res.fenced);
    fake_free(&f);
}

/* Another writer committed r@3 first: r is fenced from 3 (r@4, r@5 and r's snapshot at 5 are
 * not written, now or in a later batch); room s is written as usual. */
static void test_other_writer_fences_room(void **state)
{
    (void)state;
    struct fake_db f = { 0 };
    struct mongo_db db = db_of(&f);
    struct mongo_fences fences = { 0 };
    struct mongo_batch_result res = { 0 };
    struct store_buf other = { 0 }, b = { 0 }, next = { 0 };
    add_op(&other, "r", 3, "[\"theirs\"]", "mallory");
    mongo_write_batch(&db, &fences, other.p, other.len, &res);
    assert_true(res.ok);
    struct mongo_fences none = { 0 };       /* our writer has its own fences */
    add_op(&b, "r", 1, "[\"a\"]", "alice");
    add_op(&b, "s", 1, "[\"s\"]", "sam");
    add_op(&b, "r", 2, "[1,\"b\"]", "alice");
    add_op(&b, "r", 3, "[2,\"c\"]", "alice");
    add_op(&b, "s", 2, "[1,\"t\"]", "sam");
    add_op(&b, "r", 4, "[3,\"d\"]", "alice");
    add_op(&b, "r", 5, "[4,\"e\"]", "alice");
    assert_true(store_encode_snapshot(&b, "r", 1, 5, 0, "abcde", 5));
    assert_true(store_encode_snapshot(&b, "s", 1, 2, 0, "st", 2));
    mongo_write_batch(&db, &none, b.p, b.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.fenced.n, 1);
    assert_string_equal(res.fenced.v[0].room, "r");
    assert_int_equal(res.fenced.v[0].rev, 3);
    assert_int_equal(count_room(&f, MONGO_OPS, "r"), 3);          /* r@1, r@2 ours, r@3 theirs */
    assert_int_equal(count_room(&f, MONGO_OPS, "s"), 2);
    assert_int_equal(count_room(&f, MONGO_SNAPSHOTS, "r"), 0);
    assert_int_equal(count_room(&f, MONGO_SNAPSHOTS, "s"), 1);
    const bson_t *d = fake_find(&f, MONGO_OPS, "r", 3);
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, d, "from") && !strcmp(bson_iter_utf8(&it, NULL), "mallory"));
    /* a later batch: r's ops stay unwritten and are reported again; s goes on */
    add_op(&next, "r", 6, "[5,\"f\"]", "alice");
    add_op(&next, "s", 3, "[2,\"u\"]", "sam");
    mongo_write_batch(&db, &none, next.p, next.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.fenced.n, 1);
    assert_int_equal(res.fenced.v[0].rev, 3);
    assert_int_equal(count_room(&f, MONGO_OPS, "r"), 3);
    assert_int_equal(count_room(&f, MONGO_OPS, "s"), 3);
    store_buf_free(&other);
    store_buf_free(&b);
    store_buf_free(&next);
    mongo_fences_free(&fences);
    mongo_fences_free(&none);
    mongo_fences_free(&res.fenced);
    fake_free(&f);
}

/* A duplicate key on an op that differs only in its author or timestamp is another writer's. */
static void test_same_op_other_author_is_conflict(void **state)
{
    (void)state;
    struct fake_db f = { 0 };
    struct mongo_db db = db_of(&f);
    struct mongo_fences theirs = { 0 }, ours = { 0 };
    struct mongo_batch_result res = { 0 };
    struct store_buf a = { 0 }, b = { 0 };
    add_op(&a, "r", 1, "[\"x\"]", "mallory");
    add_op(&b, "r", 1, "[\"x\"]", "alice");
    mongo_write_batch(&db, &theirs, a.p, a.len, &res);
    mongo_write_batch(&db, &ours, b.p, b.len, &res);
    assert_true(res.ok);
    assert_int_equal(res.fenced.n, 1);
    assert_int_equal(res.duplicates, 0);
    store_buf_free(&a);
    store_buf_free(&b);
    mongo_fences_free(&theirs);
    mongo_fences_free(&ours);
    mongo_fences_free(&res.fenced);
    fake_free(&f);
}

static void roundtrip(const char *json)
{
    bson_t d = BSON_INITIALIZER;
    assert_true(mongo_append_op(&d, "op", json, strlen(json)));
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &d, "op"));
    jw w;
    jw_init(&w, 16);
    assert_true(mongo_op_json(&it, &w));
    assert_int_equal(w.len, strlen(json));
    assert_memory_equal(w.buf, json, w.len);
    jw_free(&w);
    bson_destroy(&d);
}

static void test_op_conversions(void **state)
{
    (void)state;
    roundtrip("[]");
    roundtrip("[\"a\"]");
    roundtrip("[5,\"\\u0001\\\"\\\\ \xf0\x9f\x98\x80\",-3,2147483648]");
    roundtrip("[-9007199254740991]");
    /* a server that keeps numbers as doubles (JavaScript) gives them back as doubles */
    bson_t d = BSON_INITIALIZER, arr;
    bson_append_array_begin(&d, "op", 2, &arr);
    bson_append_double(&arr, "0", 1, 12.0);
    bson_append_utf8(&arr, "1", 1, "z", 1);
    bson_append_array_end(&d, &arr);
    bson_iter_t it;
    jw w;
    jw_init(&w, 16);
    assert_true(bson_iter_init_find(&it, &d, "op") && mongo_op_json(&it, &w));
    assert_int_equal(w.len, 8);
    assert_memory_equal(w.buf, "[12,\"z\"]", 8);
    bson_destroy(&d);
    /* a fraction or another type is not an ot.js op */
    bson_init(&d);
    bson_append_array_begin(&d, "op", 2, &arr);
    bson_append_double(&arr, "0", 1, 1.5);
    bson_append_array_end(&d, &arr);
    jw_reset(&w);
    assert_true(bson_iter_init_find(&it, &d, "op"));
    assert_false(mongo_op_json(&it, &w));
    bson_destroy(&d);
    jw_free(&w);
    bson_t bad = BSON_INITIALIZER;
    assert_false(mongo_append_op(&bad, "op", "[1,", 3));
    bson_destroy(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_batch),
        cmocka_unit_test(test_retry_after_partial_failure),
        cmocka_unit_test(test_other_writer_fences_room),
        cmocka_unit_test(test_same_op_other_author_is_conflict),
        cmocka_unit_test(test_op_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
