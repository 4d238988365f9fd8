/* test_json.c: json.c strictness (valid/invalid table), readers, string unescaping with
 * surrogate pairs, and the writer's escaping (round trip through the parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int parse(json_doc *d, const char *s, size_t n, jsmntok_t *t, int max)
{
    return json_parse(d, s, n, t, max);
}

static const char *valid_docs[] = {
    "0", "-0", "1", "-1", "123", "1.5", "-0.0", "1e5", "1E+5", "1e-5", "0.5e10", "-12.34E-56",
    "true", "false", "null", "\"\"", "\"abc\"", "  \t\r\n 1 \n", "[]", "{}", "[ ]", "{ }",
    "[1,2,3]", "[1, \"a\", true, false, null, [], {}]", "{\"a\":1}", "{\"a\":{\"b\":[1,{\"c\":null}]}}",
    "{\"a\" : 1 , \"b\" : [ ] }", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\uABCD\\uabcd\"",
    "\"\\ud83d\\ude00\"", "\"\\ud800\"" /* grammatically valid; json_get_string refuses it */,
    "\"é😀\"", "[[[[[[[[[[]]]]]]]]]]", "{\"\":\"\"}", "[-1,0,1]", "{\"a\":1,\"a\":2}",
};

static const char *invalid_docs[] = {
    "", " ", "[", "]", "{", "}", "[1,]", "[,1]", "[1 2]", "[1,,2]", "{\"a\"}", "{\"a\":}",
    "{\"a\" 1}", "{\"a\":1,}", "{,}", "{1:2}", "{\"a\":1 \"b\":2}", "[\"a\":1]", "{\"a\",1}",
    "1 2", "[] []", "{}{}", "1,", "[1]]", "[1]x", "\"a\" \"b\"", "\"a\"1",
    "01", "-", "+1", "1.", ".5", "1.e5", "1e", "1e+", "--1", "0x10", "1_0", "Infinity", "NaN", "-01",
    "tru", "truee", "True", "nul", "nulll", "f", "falsey", "[tru]", "[nulll]", "[truefalse]",
    "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\\"", "\"\\u\"", "\"a\tb\"", "\"a\nb\"",
    "\"\x01\"", "\"\x1f\"", "'a'", "[1}", "{]", "{\"a\":[}", "[{]}", "abc", "[abc]", "{\"a\":abc}",
    "[1,true false]", "[\"a\" \"b\"]", "{\"a\":1}}", "[[]", "[]]", "/*c*/1", "1 //c",
};

static void test_strictness_table(void **state)
{
    (void)state;
    jsmntok_t t[64];
    json_doc d;
    for (size_t i = 0; i < sizeof valid_docs / sizeof *valid_docs; i++) {
        int rc = parse(&d, valid_docs[i], strlen(valid_docs[i]), t, 64);
        if (rc != JSON_OK) fail_msg("valid doc rejected: %s (rc %d)", valid_docs[i], rc);
        assert_true(d.ntok >= 1);
        assert_int_equal(json_next(&d, 0), d.ntok);
    }
    for (size_t i = 0; i < sizeof invalid_docs / sizeof *invalid_docs; i++) {
        int rc = parse(&d, invalid_docs[i], strlen(invalid_docs[i]), t, 64);
        if (rc == JSON_OK) fail_msg("invalid doc accepted: %s", invalid_docs[i]);
    }
    printf("json strictness: %zu valid, %zu invalid\n", sizeof valid_docs / sizeof *valid_docs,
           sizeof invalid_docs / sizeof *invalid_docs);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    jsmntok_t t[8];
    json_doc d;
    assert_int_not_equal(parse(&d, "[1]\0", 4, t, 8), JSON_OK);
    assert_int_not_equal(parse(&d, "\"a\0b\"", 5, t, 8), JSON_OK);
    assert_int_not_equal(parse(&d, "[1,\0 2]", 7, t, 8), JSON_OK);
    assert_int_equal(parse(&d, "[1] ", 3, t, 8), JSON_OK);      /* len respected */
}

static void test_too_many(void **state)
{
    (void)state;
    jsmntok_t t[3];
    json_doc d;
    assert_int_equal(parse(&d, "[1,2,3]", 7, t, 3), JSON_ETOOMANY);
    assert_int_equal(parse(&d, "[1,2]", 5, t, 3), JSON_OK);
    assert_int_equal(d.ntok, 3);
}

static void test_readers(void **state)
{
    (void)state;
    jsmntok_t t[64];
    json_doc d;
    const char *s = "{\"type\":\"op\",\"rev\":42,\"neg\":-7,\"big\":9223372036854775807,"
                    "\"big2\":9223372036854775808,\"min\":-9223372036854775808,\"f\":1.0,\"e\":1e3,"
                    "\"op\":[1,\"x\",-2],\"nested\":{\"rev\":1},\"b\":true,\"n\":null,\"k\\u0065y\":5,\"rev\":43}";
    assert_int_equal(parse(&d, s, strlen(s), t, 64), JSON_OK);
    assert_true(json_is_object(&d, 0));
    int i = json_obj_get(&d, 0, "type");
    assert_true(json_str_eq(&d, i, "op"));
    assert_false(json_str_eq(&d, i, "o"));
    assert_false(json_str_eq(&d, i, "opx"));
    int64_t v;
    assert_true(json_get_int64(&d, json_obj_get(&d, 0, "rev"), &v));
    assert_int_equal(v, 43);                                        /* last one wins */
    assert_true(json_get_int64(&d, json_obj_get(&d, 0, "neg"), &v));
    assert_int_equal(v, -7);
    assert_true(json_get_int64(&d, json_obj_get(&d, 0, "big"), &v));
    assert_true(v == INT64_MAX);
    assert_false(json_get_int64(&d, json_obj_get(&d, 0, "big2"), &v));
    assert_true(json_get_int64(&d, json_obj_get(&d, 0, "min"), &v));
    assert_true(v == INT64_MIN);
    assert_false(json_get_int64(&d, json_obj_get(&d, 0, "f"), &v));
    assert_false(json_get_int64(&d, json_obj_get(&d, 0, "e"), &v));
    assert_false(json_get_int64(&d, json_obj_get(&d, 0, "type"), &v));
    int op = json_obj_get(&d, 0, "op");
    assert_true(json_is_array(&d, op));
    assert_int_equal(d.tok[op].size, 3);
    int e = op + 1;
    assert_true(json_get_int64(&d, e, &v) && v == 1);
    e = json_next(&d, e);
    assert_true(json_str_eq(&d, e, "x"));
    e = json_next(&d, e);
    assert_true(json_get_int64(&d, e, &v) && v == -2);
    int nested = json_obj_get(&d, 0, "nested");
    assert_true(json_is_object(&d, nested));
    assert_true(json_get_int64(&d, json_obj_get(&d, nested, "rev"), &v) && v == 1);
    assert_int_equal(json_obj_get(&d, nested, "type"), -1);
    bool b;
    assert_true(json_get_bool(&d, json_obj_get(&d, 0, "b"), &b) && b);
    assert_false(json_get_bool(&d, json_obj_get(&d, 0, "n"), &b));
    assert_true(json_is_null(&d, json_obj_get(&d, 0, "n")));
    assert_true(json_get_int64(&d, json_obj_get(&d, 0, "key"), &v) && v == 5);
    assert_int_equal(json_obj_get(&d, 0, "missing"), -1);
    assert_false(json_is_string(&d, op));
}

static void test_get_string(void **state)
{
    (void)state;
    struct { const char *json; const char *utf8; size_t n; int rc; } cases[] = {
        { "\"abc\"", "abc", 3, JSON_OK },
        { "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8, JSON_OK },
        { "\"\\u0000x\"", "\0x", 2, JSON_OK },
        { "\"\\u00e9\\u00E9\"", "\xc3\xa9\xc3\xa9", 4, JSON_OK },
        { "\"\\u20ac\"", "\xe2\x82\xac", 3, JSON_OK },
        { "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4, JSON_OK },
        { "\"\\uD834\\uDD1E!\"", "\xf0\x9d\x84\x9e!", 5, JSON_OK },
        { "\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4, JSON_OK },
        { "\"é😀\"", "é😀", 6, JSON_OK },
        { "\"\\ud800\"", NULL, 0, JSON_EINVAL },
        { "\"\\ud800x\"", NULL, 0, JSON_EINVAL },
        { "\"\\ud800\\u0041\"", NULL, 0, JSON_EINVAL },
        { "\"\\ud800\\ud800\"", NULL, 0, JSON_EINVAL },
        { "\"\\udc00\"", NULL, 0, JSON_EINVAL },
        { "\"\\ude00\\ud83d\"", NULL, 0, JSON_EINVAL },
        { "\"a\\ud83d\"", NULL, 0, JSON_EINVAL },
        { "\"\xed\xa0\x80\"", NULL, 0, JSON_EINVAL },              /* raw CESU surrogate */
        { "\"\xed\x9f\xbf\"", "\xed\x9f\xbf", 3, JSON_OK },          /* U+D7FF is fine */
    };
    jsmntok_t t[4];
    json_doc d;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(parse(&d, cases[i].json, strlen(cases[i].json), t, 4), JSON_OK);
        char out[64];
        size_t n = 99;
        int rc = json_get_string(&d, 0, out, json_raw_len(&d, 0), &n);
        if (rc != cases[i].rc) fail_msg("case %zu (%s): rc %d want %d", i, cases[i].json, rc, cases[i].rc);
        if (rc == JSON_OK) {
            assert_int_equal(n, cases[i].n);
            assert_memory_equal(out, cases[i].utf8, n);
            char lit[64];
            memcpy(lit, cases[i].utf8, n);
            lit[n] = 0;
            if (!memchr(cases[i].utf8, 0, n)) assert_true(json_str_eq(&d, 0, lit));
        } else {
            assert_false(json_str_eq(&d, 0, ""));
        }
    }
    /* cap too small */
    assert_int_equal(parse(&d, "\"abcdef\"", 8, t, 4), JSON_OK);
    char out[4];
    size_t n;
    assert_int_equal(json_get_string(&d, 0, out, 3, &n), JSON_ETOOMANY);
    /* not a string */
    assert_int_equal(parse(&d, "12", 2, t, 4), JSON_OK);
    assert_int_equal(json_get_string(&d, 0, out, 4, &n), JSON_EINVAL);
}

static void test_writer(void **state)
{
    (void)state;
    jw w;
    jw_init(&w, 0);
    jw_char(&w, '[');
    jw_int(&w, INT64_MIN);
    jw_char(&w, ',');
    jw_int(&w, -5);
    jw_char(&w, ',');
    jw_uint(&w, UINT64_MAX);
    jw_char(&w, ',');
    jw_uint(&w, 0);
    jw_lit(&w, ",");
    jw_str(&w, "a\"b\\c\b\f\n\r\t\x01\x1f\x7f/é😀", 20);
    jw_char(&w, ',');
    jw_str(&w, "\0", 1);
    jw_char(&w, ']');
    const char *want = "[-9223372036854775808,-5,18446744073709551615,0,"
                       "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/é😀\",\"\\u0000\"]";
    assert_false(w.oom);
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    jw_free(&w);

    /* every byte value 1..255 that forms valid UTF-8 with itself, plus NUL: round trip */
    char src[300];
    size_t n = 0;
    for (int c = 0; c < 0x80; c++) src[n++] = (char)c;
    memcpy(src + n, "é€😀\xf4\x8f\xbf\xbf", 13);
    n += 13;
    jw_init(&w, 16);
    for (int rep = 0; rep < 50; rep++) {                /* forces growth */
        jw_reset(&w);
        jw_str(&w, src, n);
        jsmntok_t t[2];
        json_doc d;
        assert_int_equal(json_parse(&d, w.buf, w.len, t, 2), JSON_OK);
        char back[300];
        size_t bn;
        assert_int_equal(json_get_string(&d, 0, back, sizeof back, &bn), JSON_OK);
        assert_int_equal(bn, n);
        assert_memory_equal(back, src, n);
    }
    jw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strictness_table),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_readers),
        cmocka_unit_test(test_get_string),
        cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
