/* test_config.c: defaults, flag and environment parsing, precedence, and the one-line errors
 * that name the offending flag or variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int load(struct config *c, char *err, int argc, char **argv)
{
    return config_load(c, argc, argv, err, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    char *argv[] = { "ringroom" };
    assert_int_equal(load(&c, err, 1, argv), CONFIG_OK);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.max_frame, 16u << 20);
    assert_int_equal(c.max_backlog, 4u << 20);
    assert_int_equal(c.max_header_bytes, 8192);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.handshake_timeout_ms, 10000);
    assert_int_equal(c.cursor_interval_ms, 16);
    assert_int_equal(c.ot_window, 1000);
}

static void test_flags_and_forms(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    char *argv[] = { "ringroom", "--listen", "0.0.0.0:9000", "--max-frame=64K", "--idle-timeout", "2m",
                     "--threads", "3", "--max-conns=12", "--handshake-timeout", "250ms", "--web-dir", "/x" };
    assert_int_equal(load(&c, err, 13, argv), CONFIG_OK);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.max_frame, 65536);
    assert_int_equal(c.idle_timeout_ms, 120000);
    assert_int_equal(c.threads, 3);
    assert_int_equal(c.max_conns, 12);
    assert_int_equal(c.handshake_timeout_ms, 250);
    assert_string_equal(c.web_dir, "/x");
}

static void expect_error(int argc, char **argv, const char *needle)
{
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, err, argc, argv), CONFIG_ERROR);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_null(strchr(err, '\n'));
}

static void test_bad_values(void **state)
{
    (void)state;
    char *a1[] = { "ringroom", "--max-conns", "abc" };
    expect_error(3, a1, "--max-conns");
    char *a2[] = { "ringroom", "--max-frame", "12X" };
    expect_error(3, a2, "--max-frame");
    char *a3[] = { "ringroom", "--idle-timeout", "30" };        /* unit required */
    expect_error(3, a3, "--idle-timeout");
    char *a4[] = { "ringroom", "--listen", "nowhere" };
    expect_error(3, a4, "--listen");
    char *a5[] = { "ringroom", "--threads", "-1" };
    expect_error(3, a5, "--threads");
    char *a6[] = { "ringroom", "--bogus", "1" };
    expect_error(3, a6, "--bogus");
    char *a7[] = { "ringroom", "--max-frame" };
    expect_error(2, a7, "--max-frame");
    char *a8[] = { "ringroom", "--listen", "1.2.3.4:70000" };
    expect_error(3, a8, "--listen");
    char *a9[] = { "ringroom", "--max-backlog", "1" };          /* below the minimum */
    expect_error(3, a9, "--max-backlog");
    char *a10[] = { "ringroom", "--log-level", "loud" };
    expect_error(3, a10, "--log-level");
    char *a11[] = { "ringroom", "stray" };
    expect_error(2, a11, "stray");
}

static void test_env_and_precedence(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    setenv("RINGROOM_MAX_FRAME", "1M", 1);
    setenv("RINGROOM_THREADS", "2", 1);
    char *argv[] = { "ringroom", "--threads", "4" };
    assert_int_equal(load(&c, err, 3, argv), CONFIG_OK);
    assert_int_equal(c.max_frame, 1u << 20);
    assert_int_equal(c.threads, 4);                            /* the flag wins */
    setenv("RINGROOM_MAX_FRAME", "zzz", 1);
    assert_int_equal(load(&c, err, 1, argv), CONFIG_ERROR);
    assert_non_null(strstr(err, "RINGROOM_MAX_FRAME"));
    unsetenv("RINGROOM_MAX_FRAME");
    unsetenv("RINGROOM_THREADS");
}

static void test_parsers(void **state)
{
    (void)state;
    uint64_t v;
    uint32_t ms;
    assert_true(config_parse_size("0", &v) && v == 0);
    assert_true(config_parse_size("4KiB", &v) && v == 4096);
    assert_true(config_parse_size("2G", &v) && v == 2ull << 30);
    assert_false(config_parse_size("", &v));
    assert_false(config_parse_size("-1", &v));
    assert_false(config_parse_size("99999999999999999999", &v));
    assert_false(config_parse_size("18446744073709551615G", &v));
    assert_true(config_parse_duration_ms("16ms", &ms) && ms == 16);
    assert_true(config_parse_duration_ms("1h", &ms) && ms == 3600000);
    assert_false(config_parse_duration_ms("5", &ms));
    assert_false(config_parse_duration_ms("5 s", &ms));
    assert_false(config_parse_duration_ms("9999999999h", &ms));
    char host[64];
    uint16_t port;
    assert_true(config_parse_hostport("[::1]:80", host, sizeof host, &port));
    assert_string_equal(host, "::1");
    assert_int_equal(port, 80);
    assert_false(config_parse_hostport(":80", host, sizeof host, &port));
    assert_false(config_parse_hostport("a:", host, sizeof host, &port));
    assert_false(config_parse_hostport("a:8x", host, sizeof host, &port));
    int rport, db;
    assert_true(config_parse_redis_uri("redis://127.0.0.1:6380/2", host, sizeof host, &rport, &db));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(rport, 6380);
    assert_int_equal(db, 2);
    assert_true(config_parse_redis_uri("redis://ringroom-redis", host, sizeof host, &rport, &db));
    assert_string_equal(host, "ringroom-redis");
    assert_int_equal(rport, 6379);
    assert_int_equal(db, 0);
    assert_true(config_parse_redis_uri("redis://h:1/", host, sizeof host, &rport, &db) && rport == 1 && db == 0);
    assert_false(config_parse_redis_uri("redis://", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://:6379", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://h:0", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://h:65536", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://h:6379/x", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://h:6379/1/2", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("rediss://h", host, sizeof host, &rport, &db));
    assert_false(config_parse_redis_uri("redis://h x", host, 2, &rport, &db));
}

static void test_help_and_version(void **state)
{
    (void)state;
    struct config c;
    char err[256];
    char *h[] = { "ringroom", "--version" };
    assert_int_equal(load(&c, err, 2, h), CONFIG_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flags_and_forms),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_env_and_precedence),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
