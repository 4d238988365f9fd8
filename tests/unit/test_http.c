/* test_http.c: request parsing (complete, incomplete at every length, pipelined, limits,
 * malformed), WebSocket handshake decisions, routes, query strings and response heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static const struct http_limits lim = { .max_header_bytes = 8192, .max_body_bytes = 1024 };

static long parse(const char *s, struct http_request *req)
{
    return http_parse_request(s, strlen(s), &lim, req);
}

static bool slice_is(struct http_slice s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static const char WS_REQ[] =
    "GET /echo?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

static void test_simple_get(void **state)
{
    (void)state;
    struct http_request r;
    const char *s = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(parse(s, &r), (long)strlen(s));
    assert_int_equal(r.method, METHOD_GET);
    assert_true(slice_is(r.path, "/health"));
    assert_int_equal(r.query.n, 0);
    assert_true(r.keep_alive);
    assert_false(r.upgrade_websocket);
}

static void test_incomplete_at_every_length(void **state)
{
    (void)state;
    size_t n = strlen(WS_REQ);
    for (size_t len = 0; len < n; len++) {
        struct http_request r;
        assert_int_equal(http_parse_request(WS_REQ, len, &lim, &r), 0);
    }
    struct http_request r;
    assert_int_equal(http_parse_request(WS_REQ, n, &lim, &r), (long)n);
}

static void test_pipelined(void **state)
{
    (void)state;
    const char *s = "GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c?q HTTP/1.1\r\n\r\nGET /d";
    struct http_request r;
    size_t off = 0;
    const char *paths[] = { "/a", "/b", "/c" };
    for (int i = 0; i < 3; i++) {
        long n = http_parse_request(s + off, strlen(s) - off, &lim, &r);
        assert_true(n > 0);
        assert_true(slice_is(r.path, paths[i]));
        off += (size_t)n;
    }
    assert_int_equal(r.method, METHOD_GET);
    assert_true(slice_is(r.query, "q"));
    assert_int_equal(http_parse_request(s + off, strlen(s) - off, &lim, &r), 0);
}

static void test_body_consumed_and_limited(void **state)
{
    (void)state;
    struct http_request r;
    const char *s = "POST /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
    long n = parse(s, &r);
    assert_int_equal(n, (long)(strlen(s) - strlen("GET / HTTP/1.1\r\n\r\n")));
    assert_int_equal(r.method, METHOD_OTHER);
    assert_int_equal(r.body_len, 5);
    /* body not there yet */
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", &r), 0);
    /* over the limit: 413 from the header alone */
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", &r), -413);
    /* chunked, over the limit */
    char big[2048];
    int k = snprintf(big, sizeof big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 1100);
    memset(big + k, 'a', 1100);
    big[k + 1100] = '\0';
    assert_int_equal(http_parse_request(big, strlen(big), &lim, &r), -413);
}

static void test_header_limit(void **state)
{
    (void)state;
    struct http_limits small = { .max_header_bytes = 64, .max_body_bytes = 0 };
    struct http_request r;
    char s[256];
    snprintf(s, sizeof s, "GET / HTTP/1.1\r\nX-Long: %080d\r\n\r\n", 0);
    assert_int_equal(http_parse_request(s, strlen(s), &small, &r), -431);
    /* incomplete but already too long */
    assert_int_equal(http_parse_request(s, 70, &small, &r), -431);
    /* incomplete and short: wait */
    assert_int_equal(http_parse_request(s, 40, &small, &r), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    struct http_request r;
    assert_int_equal(parse("NOT A REQUEST\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nBad Header\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET / HTTP/9.9\r\n\r\n", &r), -505);
    assert_int_equal(parse("GET http://x/ HTTP/1.1\r\n\r\n", &r), -400);   /* absolute form */
    assert_int_equal(parse("CONNECT a:1 HTTP/1.1\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r), -400);
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    struct http_request r;
    parse("GET / HTTP/1.0\r\n\r\n", &r);
    assert_false(r.keep_alive);
    parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r);
    assert_true(r.keep_alive);
    parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &r);
    assert_false(r.keep_alive);
}

static void test_websocket_handshake(void **state)
{
    (void)state;
    struct http_request r;
    char accept[29];
    assert_int_equal(parse(WS_REQ, &r), (long)strlen(WS_REQ));
    assert_true(r.upgrade_websocket);
    assert_true(r.connection_upgrade);
    assert_int_equal(http_ws_handshake_check(&r, accept), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    char s[512];
    snprintf(s, sizeof s, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n");
    parse(s, &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 400);
    snprintf(s, sizeof s, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n");
    parse(s, &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 400);
    snprintf(s, sizeof s, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    parse(s, &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 426);
    parse("GET /ws HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 426);
    snprintf(s, sizeof s, "POST /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    parse(s, &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 405);
    snprintf(s, sizeof s, "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    parse(s, &r);
    assert_int_equal(http_ws_handshake_check(&r, accept), 400);
}

static void test_path_match(void **state)
{
    (void)state;
    struct http_slice arg;
#define P(s) ((struct http_slice){ s, sizeof s - 1 })
    assert_true(http_path_match(P("/health"), "/health", &arg));
    assert_int_equal(arg.n, 0);
    assert_false(http_path_match(P("/healthz"), "/health", &arg));
    assert_false(http_path_match(P("/health"), "/healthz", &arg));
    assert_false(http_path_match(P("/ws/"), "/ws", &arg));
    assert_true(http_path_match(P("/history/abc"), "/history/", &arg));
    assert_true(slice_is(arg, "abc"));
    assert_true(http_path_match(P("/rooms/r-1.x"), "/rooms/", &arg));
    assert_true(slice_is(arg, "r-1.x"));
    assert_false(http_path_match(P("/history/"), "/history/", &arg));   /* the argument is not empty */
    assert_false(http_path_match(P("/history"), "/history/", &arg));
    assert_false(http_path_match(P("/"), "/rooms/", &arg));
#undef P
}

static void test_query(void **state)
{
    (void)state;
    struct http_slice q = { "limit=10&since=5&flag&limit=20", 30 }, v;
    assert_true(http_query_get(q, "limit", &v));
    assert_true(slice_is(v, "20"));
    assert_true(http_query_get(q, "since", &v));
    assert_true(slice_is(v, "5"));
    assert_true(http_query_get(q, "flag", &v));
    assert_int_equal(v.n, 0);
    assert_false(http_query_get(q, "lim", &v));
    assert_false(http_query_get(q, "x", &v));
}

static void test_response_head(void **state)
{
    (void)state;
    char out[512];
    size_t n = http_response_head(out, sizeof out, 404, "text/plain", 3, false, "X-A: b\r\n");
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(out, "Content-Length: 3\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_non_null(strstr(out, "X-A: b\r\n\r\n"));
    assert_int_equal(http_response_head(out, 20, 200, "text/plain", 0, true, NULL), 0);
    n = http_upgrade_response(out, sizeof out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(out, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_incomplete_at_every_length),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_body_consumed_and_limited),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_websocket_handshake),
        cmocka_unit_test(test_path_match),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_response_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
