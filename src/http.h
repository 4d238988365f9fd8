/* http.h: HTTP/1.1 requests in, response heads out, and the route table.
 *
 * http_parse_request() reads one request from the start of a contiguous buffer: complete
 * (returns its size, body included, so pipelined requests follow), incomplete (0) or bad
 * (-status: 400, 413, 431, 505). Parsing is Debian's libhttp-parser (Node's
 * http_parser); this module adds limits, the headers ringroom cares about and WebSocket
 * upgrade checks. The request points into the caller's buffer; nothing is allocated.
 */
#ifndef RINGROOM_HTTP_H
#define RINGROOM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_limits {
    uint32_t max_header_bytes;
    uint32_t max_body_bytes;
};

enum http_method_kind { METHOD_GET, METHOD_HEAD, METHOD_OTHER };

struct http_slice { const char *p; size_t n; };

struct http_request {
    enum http_method_kind method;
    const char *method_name;
    struct http_slice path;           /* before '?', not decoded */
    struct http_slice query;          /* after '?', may be empty */
    struct http_slice ws_key;         /* Sec-WebSocket-Key */
    struct http_slice ws_version;     /* Sec-WebSocket-Version */
    struct http_slice origin;
    struct http_slice if_none_match;  /* for ETag revalidation of the web page */
    unsigned short http_major, http_minor;
    bool keep_alive;                  /* per HTTP version and Connection header */
    bool upgrade_websocket;           /* Upgrade: websocket */
    bool connection_upgrade;          /* Connection: ... upgrade ... */
    bool has_ws_version;
    uint64_t body_len;
    size_t head_len;
};

long http_parse_request(const char *data, size_t len, const struct http_limits *lim,
                        struct http_request *req);

/* Does path match `route`? A route ending in '/' is a prefix that must be followed by at
 * least one byte, which *arg then holds (/history/<x>: <x>); any other route matches exactly
 * (*arg empty). The routes themselves are the application's (api.c). */
bool http_path_match(struct http_slice path, const char *route, struct http_slice *arg);

/* Finds `key` in a query string (a=1&b=2); *val is its raw value. False if absent. */
bool http_query_get(struct http_slice query, const char *key, struct http_slice *val);

const char *http_status_text(int status);

/* Writes a response head; returns its length (truncated heads return 0). `extra` is more
 * header lines, each ending in \r\n, or NULL. */
size_t http_response_head(char *out, size_t cap, int status, const char *content_type,
                          uint64_t content_length, bool keep_alive, const char *extra);

/* The 101 answer to a valid WebSocket handshake. Returns its length. */
size_t http_upgrade_response(char *out, size_t cap, const char accept[29]);

/* Decides a WebSocket handshake: 0 if it may be accepted (accept key written), otherwise the
 * HTTP status to answer (400 bad request or key, 426 other version, 405 not GET). */
int http_ws_handshake_check(const struct http_request *req, char accept_out[29]);
/* The body (text/plain) and extra headers (NULL: none) of the answer to a handshake that
 * http_ws_handshake_check refused with `status`. */
const char *http_ws_handshake_error(const struct http_request *req, int status, const char **extra_headers);

#endif
