/* fuzz_http.c: libFuzzer target for http_parse_request. Checks that a result never claims
 * more bytes than given, that every slice of the request lies inside the input, that every
 * shorter prefix of a complete request is reported incomplete (0), and that routing and
 * query lookup on whatever was parsed stay in bounds. */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void in_bounds(const uint8_t *data, size_t size, struct http_slice s)
{
    if (!s.p) return;
    const char *start = (const char *)data, *end = start + size;
    if (s.p < start || s.p + s.n > end) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct http_limits lim = { .max_header_bytes = 2048, .max_body_bytes = 1024 };
    struct http_request req;
    long r = http_parse_request((const char *)data, size, &lim, &req);
    if (r > (long)size) abort();
    if (r > 0) {
        in_bounds(data, size, req.path);
        in_bounds(data, size, req.query);
        in_bounds(data, size, req.ws_key);
        in_bounds(data, size, req.ws_version);
        in_bounds(data, size, req.origin);
        in_bounds(data, size, req.if_none_match);
        struct http_slice arg, v;
        if (http_path_match(req.path, "/history/", &arg)) in_bounds(data, size, arg);
        if (http_query_get(req.query, "limit", &v)) in_bounds(data, size, v);
        char accept[29];
        (void)http_ws_handshake_check(&req, accept);
        if (size < 3000)
            for (size_t len = 0; len < (size_t)r; len++) {
                struct http_request pr;
                long pr_r = http_parse_request((const char *)data, len, &lim, &pr);
                if (pr_r > 0) abort();
            }
    }
    return 0;
}
