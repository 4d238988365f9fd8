/* test_doc.c: doc.c against ot.js's Server: every `session` vector replayed on a fresh doc
 * (every server_op and the final text must match), the `invalid` vectors of check "server",
 * and hand-written cases for the history window (too old / future), the size limit, errors
 * leaving doc and op untouched, and a doc that starts at a non-zero revision.
 * Vectors come from $RINGROOM_VECTORS (default ../shared/vectors/ot, from the repo root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json.h before jansson.h: jansson's json_is_*() macros take one argument. */
#include "doc.h"
#include "json.h"
#include "ot.h"

#include "vectors.h"

static void ser(jw *w, const json_t *v)
{
    if (json_is_array(v)) {
        jw_char(w, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) jw_char(w, ',');
            ser(w, json_array_get(v, i));
        }
        jw_char(w, ']');
    } else if (json_is_integer(v)) {
        jw_int(w, json_integer_value(v));
    } else if (json_is_string(v)) {
        jw_str(w, json_string_value(v), json_string_length(v));
    } else {
        fail_msg("unexpected value in an op");
    }
}

static int parse_op(ot_op *op, const json_t *v)
{
    jw w;
    jw_init(&w, 256);
    ser(&w, v);
    int rc = ot_op_parse(op, w.buf, w.len);
    jw_free(&w);
    return rc;
}

static bool op_eq(const ot_op *op, const json_t *v)
{
    jw a, b;
    jw_init(&a, 256);
    jw_init(&b, 256);
    ot_op_to_json(op, &a);
    ser(&b, v);
    bool eq = a.len == b.len && !memcmp(a.buf, b.buf, a.len);
    jw_free(&a);
    jw_free(&b);
    return eq;
}

static bool text_eq(const ot_text *t, const char *s, size_t n)
{
    return t->bytes == n && (n == 0 || !memcmp(t->utf8, s, n));
}

static bool text_eq_v(const ot_text *t, const json_t *v)
{
    return text_eq(t, json_string_value(v), json_string_length(v));
}

/* Replays one session with a given window; returns the number of steps refused as too old
 * (0 expected when window >= max_lag), or -1 on a mismatch. */
static int replay(const json_t *v, uint32_t window, ot_op *op)
{
    const json_t *docv = json_object_get(v, "doc");
    doc *d = doc_new(json_string_value(docv), json_string_length(docv), 0, window, SIZE_MAX);
    assert_non_null(d);
    const json_t *steps = json_object_get(v, "steps");
    int too_old = 0;
    for (size_t i = 0; i < json_array_size(steps); i++) {
        const json_t *st = json_array_get(steps, i);
        assert_int_equal(parse_op(op, json_object_get(st, "op")), OT_OK);
        int64_t rev = json_integer_value(json_object_get(st, "revision"));
        int rc = doc_receive(d, rev, op);
        if (rc == DOC_EREV_TOO_OLD) {
            too_old++;
            break;                      /* the rest of the session depends on this op */
        }
        if (rc != DOC_OK) {
            print_message("%s step %zu: doc_receive = %d\n", json_string_value(json_object_get(v, "id")), i, rc);
            doc_free(d);
            return -1;
        }
        if (!op_eq(op, json_object_get(st, "server_op"))) {
            print_message("%s step %zu: server_op differs\n", json_string_value(json_object_get(v, "id")), i);
            doc_free(d);
            return -1;
        }
        assert_int_equal(doc_rev(d), i + 1);
        if (window) assert_true(op_eq(doc_history_op(d, i), json_object_get(st, "server_op")));
        else assert_null(doc_history_op(d, i));
    }
    if (!too_old && !text_eq_v(doc_text(d), json_object_get(v, "result"))) {
        print_message("%s: final text differs\n", json_string_value(json_object_get(v, "id")));
        too_old = -1;
    }
    doc_free(d);
    return too_old;
}

static void test_sessions(void **state)
{
    (void)state;
    char **names;
    size_t nn = vectors_names("session-", &names);
    ot_op op;
    ot_op_init(&op);
    int sessions = 0, steps = 0, failures = 0, small_window_refusals = 0;
    for (size_t f = 0; f < nn; f++) {
        json_t *root = vectors_load(names[f]);
        json_t *vecs = json_object_get(root, "vectors");
        for (size_t i = 0; i < json_array_size(vecs); i++) {
            const json_t *v = json_array_get(vecs, i);
            int64_t lag = json_integer_value(json_object_get(v, "max_lag"));
            sessions++;
            steps += (int)json_array_size(json_object_get(v, "steps"));
            /* a roomy window, then exactly max_lag (must still work), then max_lag - 1 */
            if (replay(v, 100000, &op) != 0) failures++;
            if (replay(v, (uint32_t)lag, &op) != 0) failures++;
            if (lag > 0) {
                int r = replay(v, (uint32_t)lag - 1, &op);
                if (r < 0) failures++;
                else if (r == 0) { failures++; print_message("window max_lag-1 never refused\n"); }
                else small_window_refusals++;
            }
        }
        json_decref(root);
    }
    vectors_names_free(names, nn);
    ot_op_free(&op);
    printf("doc sessions: %d sessions, %d steps replayed (windows: 100000, max_lag, max_lag-1: "
           "%d refused as too old as expected)\n", sessions, steps, small_window_refusals);
    if (failures) fail_msg("%d session replays differ from ot.js", failures);
    assert_true(sessions > 0);
}

static void test_invalid_server(void **state)
{
    (void)state;
    json_t *root = vectors_load("invalid-000.json");
    json_t *vecs = json_object_get(root, "vectors");
    ot_op op;
    ot_op_init(&op);
    int n = 0, match = 0, odd_rejected = 0, failures = 0;
    for (size_t i = 0; i < json_array_size(vecs); i++) {
        const json_t *v = json_array_get(vecs, i);
        if (strcmp(json_string_value(json_object_get(v, "check")), "server")) continue;
        n++;
        const char *id = json_string_value(json_object_get(v, "id"));
        bool want_ok = !strcmp(json_string_value(json_object_get(v, "expected")), "ok");
        bool odd = json_is_true(json_object_get(v, "odd"));
        const json_t *docv = json_object_get(v, "doc");
        doc *d = doc_new(json_string_value(docv), json_string_length(docv), 0, 1000, SIZE_MAX);
        assert_non_null(d);
        const json_t *h = json_object_get(v, "history");
        for (size_t k = 0; k < json_array_size(h); k++) {
            assert_int_equal(parse_op(&op, json_array_get(h, k)), OT_OK);
            assert_int_equal(doc_receive(d, (int64_t)k, &op), DOC_OK);
        }
        const char *rt = json_string_value(json_object_get(v, "revision_text"));
        const char *optext = json_string_value(json_object_get(v, "op_text"));
        jsmntok_t tk[4];
        json_doc jd;
        int64_t rev;
        int rc = DOC_EBADOP;
        if (json_parse(&jd, rt, strlen(rt), tk, 4) == JSON_OK && json_get_int64(&jd, 0, &rev) &&
            ot_op_parse(&op, optext, strlen(optext)) == OT_OK)
            rc = doc_receive(d, rev, &op);
        bool ok;
        if (!want_ok) ok = rc != DOC_OK;
        else if (rc != DOC_OK) ok = odd;
        else ok = op_eq(&op, json_object_get(v, "server_op")) && text_eq_v(doc_text(d), json_object_get(v, "result"));
        if (!ok) { failures++; print_message("FAIL %s (rc %d)\n", id, rc); }
        else if (want_ok && rc != DOC_OK) odd_rejected++;
        else match++;
        doc_free(d);
    }
    ot_op_free(&op);
    json_decref(root);
    printf("doc invalid/server vectors: %d (%d match ot.js, %d odd rejected)\n", n, match, odd_rejected);
    assert_true(n > 0);
    if (failures) fail_msg("%d server vectors differ", failures);
}

/* doc_rebase then doc_receive at the head (what --redis does: the op is rebased, committed in
 * Redis, then applied at the next revision) gives what doc_receive gives, on every server
 * vector of ot.js, and an error leaves the doc as it was. */
static void test_rebase_then_receive(void **state)
{
    (void)state;
    json_t *root = vectors_load("invalid-000.json");
    json_t *vecs = json_object_get(root, "vectors");
    ot_op op, op2;
    ot_op_init(&op);
    ot_op_init(&op2);
    int n = 0;
    for (size_t i = 0; i < json_array_size(vecs); i++) {
        const json_t *v = json_array_get(vecs, i);
        if (strcmp(json_string_value(json_object_get(v, "check")), "server")) continue;
        const json_t *docv = json_object_get(v, "doc");
        doc *d1 = doc_new(json_string_value(docv), json_string_length(docv), 0, 1000, SIZE_MAX);
        doc *d2 = doc_new(json_string_value(docv), json_string_length(docv), 0, 1000, SIZE_MAX);
        assert_non_null(d1);
        assert_non_null(d2);
        const json_t *h = json_object_get(v, "history");
        for (size_t k = 0; k < json_array_size(h); k++) {
            assert_int_equal(parse_op(&op, json_array_get(h, k)), OT_OK);
            assert_int_equal(parse_op(&op2, json_array_get(h, k)), OT_OK);
            assert_int_equal(doc_receive(d1, (int64_t)k, &op), DOC_OK);
            assert_int_equal(doc_receive(d2, (int64_t)k, &op2), DOC_OK);
        }
        const char *rt = json_string_value(json_object_get(v, "revision_text"));
        const char *optext = json_string_value(json_object_get(v, "op_text"));
        jsmntok_t tk[4];
        json_doc jd;
        int64_t rev;
        if (json_parse(&jd, rt, strlen(rt), tk, 4) != JSON_OK || !json_get_int64(&jd, 0, &rev) ||
            ot_op_parse(&op, optext, strlen(optext)) != OT_OK || ot_op_parse(&op2, optext, strlen(optext)) != OT_OK) {
            doc_free(d1);
            doc_free(d2);
            continue;
        }
        n++;
        uint64_t head = doc_rev(d2);
        int rc1 = doc_receive(d1, rev, &op);
        int rc2 = doc_rebase(d2, rev, &op2);
        assert_int_equal(doc_rev(d2), head);                   /* rebase never changes the doc */
        if (rc2 == DOC_OK) rc2 = doc_receive(d2, (int64_t)head, &op2);
        assert_int_equal(rc1, rc2);
        assert_int_equal(doc_rev(d1), doc_rev(d2));
        assert_int_equal(doc_text(d1)->bytes, doc_text(d2)->bytes);
        assert_memory_equal(doc_text(d1)->utf8 ? doc_text(d1)->utf8 : "", doc_text(d2)->utf8 ? doc_text(d2)->utf8 : "",
                            doc_text(d1)->bytes);
        doc_free(d1);
        doc_free(d2);
    }
    ot_op_free(&op);
    ot_op_free(&op2);
    json_decref(root);
    printf("doc rebase + receive = receive: %d server vectors\n", n);
    assert_true(n > 0);
}

/* ---------------------------------------------------------------- hand-written */

static void recv_ok(doc *d, int64_t rev, const char *opjson, const char *want_server_op, const char *want_text)
{
    ot_op op;
    ot_op_init(&op);
    assert_int_equal(ot_op_parse(&op, opjson, strlen(opjson)), OT_OK);
    assert_int_equal(doc_receive(d, rev, &op), DOC_OK);
    jw w;
    jw_init(&w, 0);
    ot_op_to_json(&op, &w);
    if (w.len != strlen(want_server_op) || memcmp(w.buf, want_server_op, w.len))
        fail_msg("server op %.*s, want %s", (int)w.len, w.buf, want_server_op);
    assert_true(text_eq(doc_text(d), want_text, strlen(want_text)));
    jw_free(&w);
    ot_op_free(&op);
}

/* doc_receive must fail with rc and change neither the doc nor the op */
static void recv_err(doc *d, int64_t rev, const char *opjson, int rc)
{
    ot_op op;
    ot_op_init(&op);
    assert_int_equal(ot_op_parse(&op, opjson, strlen(opjson)), OT_OK);
    uint64_t r0 = doc_rev(d), o0 = doc_oldest_rev(d);
    size_t n = doc_text(d)->bytes;
    char *before = malloc(n + 1);
    memcpy(before, doc_text(d)->utf8, n);
    assert_int_equal(doc_receive(d, rev, &op), rc);
    assert_int_equal(doc_rev(d), r0);
    assert_int_equal(doc_oldest_rev(d), o0);
    assert_true(text_eq(doc_text(d), before, n));
    jw w;
    jw_init(&w, 0);
    ot_op_to_json(&op, &w);
    ot_op check;
    ot_op_init(&check);
    assert_int_equal(ot_op_parse(&check, opjson, strlen(opjson)), OT_OK);
    jw w2;
    jw_init(&w2, 0);
    ot_op_to_json(&check, &w2);
    assert_int_equal(w.len, w2.len);
    assert_memory_equal(w.buf, w2.buf, w.len);
    jw_free(&w);
    jw_free(&w2);
    ot_op_free(&check);
    ot_op_free(&op);
    free(before);
}

static void test_window(void **state)
{
    (void)state;
    doc *d = doc_new("abc", 3, 0, 2, 1 << 20);
    assert_non_null(d);
    assert_int_equal(doc_rev(d), 0);
    assert_int_equal(doc_oldest_rev(d), 0);
    recv_ok(d, 0, "[3,\"x\"]", "[3,\"x\"]", "abcx");
    recv_ok(d, 1, "[4,\"y\"]", "[4,\"y\"]", "abcxy");
    assert_int_equal(doc_oldest_rev(d), 0);
    recv_ok(d, 0, "[\"z\",3]", "[\"z\",5]", "zabcxy");          /* transformed over 2 ops */
    assert_int_equal(doc_rev(d), 3);
    assert_int_equal(doc_oldest_rev(d), 1);                    /* window 2 */
    assert_null(doc_history_op(d, 0));
    assert_non_null(doc_history_op(d, 1));
    assert_null(doc_history_op(d, 3));
    recv_err(d, 0, "[3]", DOC_EREV_TOO_OLD);
    recv_err(d, 4, "[6]", DOC_EREV_FUTURE);
    recv_err(d, -1, "[6]", DOC_EREV_FUTURE);
    recv_err(d, INT64_MAX, "[6]", DOC_EREV_FUTURE);
    recv_err(d, INT64_MIN, "[6]", DOC_EREV_FUTURE);
    recv_err(d, 3, "[5]", DOC_EBADOP);                          /* base length */
    recv_err(d, 1, "[6]", DOC_EBADOP);                          /* stale rev, current op */
    /* insert tie: the incoming op's text goes first (ot.js: transform(op, history)[0]) */
    recv_ok(d, 3, "[6,\"1\"]", "[6,\"1\"]", "zabcxy1");
    recv_ok(d, 3, "[6,\"2\"]", "[6,\"2\",1]", "zabcxy21");
    /* ring turns many times */
    for (int i = 0; i < 100; i++) {
        int64_t r = (int64_t)doc_rev(d) - 1;                     /* one behind */
        ot_op op;
        ot_op_init(&op);
        char js[64];
        snprintf(js, sizeof js, "[%d,\"q\"]", (int)doc_text(d)->units - 1);
        assert_int_equal(ot_op_parse(&op, js, strlen(js)), OT_OK);
        assert_int_equal(doc_receive(d, r, &op), DOC_OK);
        ot_op_free(&op);
        assert_int_equal(doc_oldest_rev(d), doc_rev(d) - 2);
    }
    assert_int_equal(doc_rev(d), 105);
    assert_int_equal(doc_text(d)->units, 108);
    doc_free(d);
}

static void test_limits(void **state)
{
    (void)state;
    doc *d = doc_new("😀a", 5, 41, 0, 8);
    assert_non_null(d);
    assert_int_equal(doc_rev(d), 41);
    assert_int_equal(doc_oldest_rev(d), 41);                   /* window 0: current rev only */
    recv_err(d, 40, "[3]", DOC_EREV_TOO_OLD);
    recv_err(d, 42, "[3]", DOC_EREV_FUTURE);
    recv_err(d, 41, "[1,-2]", DOC_EBADOP);                      /* splits the emoji */
    recv_err(d, 41, "[1,\"x\",2]", DOC_EBADOP);
    recv_err(d, 41, "[3,\"xyzw\"]", DOC_ETOOBIG);                /* 9 bytes > 8 */
    recv_ok(d, 41, "[3,\"xyz\"]", "[3,\"xyz\"]", "😀axyz");        /* 8 bytes: fits */
    assert_int_equal(doc_rev(d), 42);
    assert_int_equal(doc_oldest_rev(d), 42);
    recv_ok(d, 42, "[-2,4]", "[-2,4]", "axyz");
    doc_free(d);

    /* empty doc, the empty op */
    d = doc_new("", 0, 0, 10, 100);
    assert_non_null(d);
    recv_ok(d, 0, "[]", "[]", "");
    recv_ok(d, 0, "[\"é\"]", "[\"é\"]", "é");                  /* against the empty op */
    assert_int_equal(doc_text(d)->units, 1);
    doc_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_invalid_server),
        cmocka_unit_test(test_rebase_then_receive),
        cmocka_unit_test(test_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
