/* test_utf8.c: the incremental validator against every class of RFC 3629 sequence, split at
 * every byte; UTF-16 lengths and offsets as ot.js counts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

struct sample { const char *s; size_t n; bool valid; };
#define S(lit, v) { lit, sizeof lit - 1, v }

static const struct sample samples[] = {
    S("", true), S("hello", true), S("\x00", true), S("\x7F", true),
    S("\xC2\x80", true), S("\xDF\xBF", true), S("\xE0\xA0\x80", true), S("\xEF\xBF\xBF", true),
    S("\xED\x9F\xBF", true), S("\xEE\x80\x80", true), S("\xF0\x90\x80\x80", true),
    S("\xF4\x8F\xBF\xBF", true), S("κόσμε", true), S("😀 e\xCC\x81", true),
    S("\x80", false), S("\xBF", false), S("\xC0\x80", false), S("\xC1\xBF", false),
    S("\xE0\x80\xAF", false), S("\xE0\x9F\xBF", false), S("\xED\xA0\x80", false),
    S("\xED\xBF\xBF", false), S("\xF0\x80\x80\x80", false), S("\xF0\x8F\xBF\xBF", false),
    S("\xF4\x90\x80\x80", false), S("\xF5\x80\x80\x80", false), S("\xFF", false), S("\xFE", false),
    S("\xC2", false), S("\xE2\x82", false), S("\xF0\x9F\x98", false), S("a\xC2" "a", false),
    S("\xE2\x82\x41", false), S("hello\xC0world", false),
};

static void test_whole(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        assert_int_equal(utf8_valid((const uint8_t *)samples[i].s, samples[i].n), samples[i].valid);
}

static void test_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const uint8_t *s = (const uint8_t *)samples[i].s;
        size_t n = samples[i].n;
        for (size_t cut = 0; cut <= n; cut++) {
            utf8_state st = UTF8_START;
            bool ok = utf8_feed(&st, s, cut) && utf8_feed(&st, s + cut, n - cut) && utf8_at_boundary(st);
            assert_int_equal(ok, samples[i].valid);
        }
        /* byte by byte */
        utf8_state st = UTF8_START;
        bool ok = true;
        for (size_t k = 0; k < n && ok; k++) ok = utf8_feed(&st, s + k, 1);
        assert_int_equal(ok && utf8_at_boundary(st), samples[i].valid);
    }
}

static void test_fail_fast_position(void **state)
{
    (void)state;
    /* the error is reported by the chunk holding the bad byte, not later */
    utf8_state st = UTF8_START;
    assert_true(utf8_feed(&st, (const uint8_t *)"ab\xE2", 3));
    assert_false(utf8_at_boundary(st));
    assert_false(utf8_feed(&st, (const uint8_t *)"\x41", 1));
    st = UTF8_START;
    assert_false(utf8_feed(&st, (const uint8_t *)"\xED\xA0", 2));   /* surrogate seen at byte 2 */
}

static void test_long_ascii_fast_path(void **state)
{
    (void)state;
    uint8_t buf[1000];
    memset(buf, 'a', sizeof buf);
    assert_true(utf8_valid(buf, sizeof buf));
    buf[997] = 0x80;
    assert_false(utf8_valid(buf, sizeof buf));
}

static void test_utf16_len(void **state)
{
    (void)state;
    assert_int_equal(utf8_utf16_len((const uint8_t *)"", 0), 0);
    assert_int_equal(utf8_utf16_len((const uint8_t *)"abc", 3), 3);
    assert_int_equal(utf8_utf16_len((const uint8_t *)"é", 2), 1);
    assert_int_equal(utf8_utf16_len((const uint8_t *)"e\xCC\x81", 3), 2);          /* combining */
    assert_int_equal(utf8_utf16_len((const uint8_t *)"😀a", 5), 3);
    assert_int_equal(utf8_utf16_len((const uint8_t *)"👩\u200d💻", 11), 5);        /* ZWJ sequence */
    assert_int_equal(utf8_utf16_len((const uint8_t *)"\xE2\x82\xAC", 3), 1);
}

static void test_offset_of_units(void **state)
{
    (void)state;
    const uint8_t *s = (const uint8_t *)"a😀é€";   /* 1 + 4 + 2 + 3 bytes; 1 + 2 + 1 + 1 units */
    size_t n = 10;
    assert_int_equal(utf8_offset_of_units(s, n, 0), 0);
    assert_int_equal(utf8_offset_of_units(s, n, 1), 1);
    assert_int_equal(utf8_offset_of_units(s, n, 2), SIZE_MAX);       /* inside the pair */
    assert_int_equal(utf8_offset_of_units(s, n, 3), 5);
    assert_int_equal(utf8_offset_of_units(s, n, 4), 7);
    assert_int_equal(utf8_offset_of_units(s, n, 5), 10);
    assert_int_equal(utf8_offset_of_units(s, n, 6), SIZE_MAX);       /* past the end */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_fail_fast_position),
        cmocka_unit_test(test_long_ascii_fast_path),
        cmocka_unit_test(test_utf16_len),
        cmocka_unit_test(test_offset_of_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
