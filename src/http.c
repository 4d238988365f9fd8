/* http.c: see http.h. One http_parser per call, run over bytes that are already contiguous:
 * a request is parsed again from its first byte when more of it arrives, which costs nothing
 * measurable for heads of a few hundred bytes and keeps no parser state per connection. */
#include "http.h"

#include "ws.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum header_kind { H_OTHER, H_UPGRADE, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_ORIGIN, H_IF_NONE_MATCH };

struct parse_ctx {
    struct http_request *req;
    const struct http_limits *lim;
    enum header_kind current;
    int error;                   /* status to answer, set by callbacks */
    bool complete;
};

static bool slice_ieq(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

/* True if a comma-separated header value holds `token` (case-insensitive). */
static bool has_token(const char *p, size_t n, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) i++;
        size_t start = i;
        while (i < n && p[i] != ',') i++;
        size_t end = i;
        while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t')) end--;
        if (end - start == tl && strncasecmp(p + start, token, tl) == 0) return true;
    }
    return false;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    struct parse_ctx *c = hp->data;
    struct http_request *r = c->req;
    if (!r->path.p) r->path.p = at;
    r->path.n += n;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    struct parse_ctx *c = hp->data;
    if (slice_ieq(at, n, "upgrade")) c->current = H_UPGRADE;
    else if (slice_ieq(at, n, "connection")) c->current = H_CONNECTION;
    else if (slice_ieq(at, n, "sec-websocket-key")) c->current = H_WS_KEY;
    else if (slice_ieq(at, n, "sec-websocket-version")) c->current = H_WS_VERSION;
    else if (slice_ieq(at, n, "origin")) c->current = H_ORIGIN;
    else if (slice_ieq(at, n, "if-none-match")) c->current = H_IF_NONE_MATCH;
    else c->current = H_OTHER;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    struct parse_ctx *c = hp->data;
    struct http_request *r = c->req;
    switch (c->current) {
    case H_UPGRADE:
        if (has_token(at, n, "websocket")) r->upgrade_websocket = true;
        break;
    case H_CONNECTION:
        if (has_token(at, n, "upgrade")) r->connection_upgrade = true;
        break;
    case H_WS_KEY:
        if (r->ws_key.p) { c->error = 400; return 1; }   /* repeated key: ambiguous */
        r->ws_key = (struct http_slice){ at, n };
        break;
    case H_WS_VERSION:
        r->ws_version = (struct http_slice){ at, n };
        r->has_ws_version = true;
        break;
    case H_ORIGIN:
        r->origin = (struct http_slice){ at, n };
        break;
    case H_IF_NONE_MATCH:
        r->if_none_match = (struct http_slice){ at, n };
        break;
    case H_OTHER:
        break;
    }
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    struct parse_ctx *c = hp->data;
    struct http_request *r = c->req;
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > c->lim->max_body_bytes) {
        c->error = 413;
        return -1;
    }
    r->http_major = hp->http_major;
    r->http_minor = hp->http_minor;
    r->keep_alive = http_should_keep_alive(hp);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    struct parse_ctx *c = hp->data;
    (void)at;
    c->req->body_len += n;
    if (c->req->body_len > c->lim->max_body_bytes) { c->error = 413; return -1; }
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    struct parse_ctx *c = hp->data;
    c->complete = true;
    http_parser_pause(hp, 1);     /* stop here: what follows is the next request */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* End of the head (just past the blank line), or 0 if not within the first `limit` bytes. */
static size_t head_end(const char *data, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] != '\n') continue;
        if (data[i + 1] == '\n') return i + 2;
        if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n') return i + 3;
    }
    return 0;
}

long http_parse_request(const char *data, size_t len, const struct http_limits *lim,
                        struct http_request *req)
{
    memset(req, 0, sizeof *req);
    size_t scan = len < (size_t)lim->max_header_bytes + 1 ? len : (size_t)lim->max_header_bytes + 1;
    size_t head = head_end(data, scan);
    if (head == 0) return len > lim->max_header_bytes ? -431 : 0;
    if (head > lim->max_header_bytes) return -431;
    req->head_len = head;

    http_parser hp;
    http_parser_init(&hp, HTTP_REQUEST);
    struct parse_ctx ctx = { .req = req, .lim = lim };
    hp.data = &ctx;
    size_t n = http_parser_execute(&hp, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&hp);
    if (ctx.error) return -ctx.error;
    if (e != HPE_OK && e != HPE_PAUSED) {
        if (e == HPE_INVALID_VERSION) return -505;
        return -400;
    }
    if (!ctx.complete) {
        if (hp.upgrade) return -400;
        return 0;                 /* body still arriving */
    }
    if (hp.method == HTTP_CONNECT) return -400;      /* no proxying here */
    if (hp.http_major != 1) return -505;              /* the parser takes any digit */

    /* split path and query; only origin-form targets are served */
    if (!req->path.p || req->path.n == 0 || req->path.p[0] != '/') return -400;
    const char *q = memchr(req->path.p, '?', req->path.n);
    if (q) {
        req->query = (struct http_slice){ q + 1, req->path.n - (size_t)(q + 1 - req->path.p) };
        req->path.n = (size_t)(q - req->path.p);
    }
    const char *hash = memchr(req->path.p, '#', req->path.n);
    if (hash) req->path.n = (size_t)(hash - req->path.p);

    req->method_name = http_method_str(hp.method);
    req->method = hp.method == HTTP_GET ? METHOD_GET : hp.method == HTTP_HEAD ? METHOD_HEAD : METHOD_OTHER;
    return (long)n;
}

bool http_path_match(struct http_slice path, const char *route, struct http_slice *arg)
{
    size_t rl = strlen(route);
    if (rl && route[rl - 1] == '/') {
        if (path.n <= rl || memcmp(path.p, route, rl) != 0) return false;
        *arg = (struct http_slice){ path.p + rl, path.n - rl };
        return true;
    }
    if (path.n != rl || memcmp(path.p, route, rl) != 0) return false;
    *arg = (struct http_slice){ NULL, 0 };
    return true;
}

bool http_query_get(struct http_slice query, const char *key, struct http_slice *val)
{
    size_t kl = strlen(key), i = 0;
    bool found = false;
    while (i < query.n) {
        size_t start = i;
        while (i < query.n && query.p[i] != '&') i++;
        const char *item = query.p + start;
        size_t il = i - start;
        if (il >= kl && memcmp(item, key, kl) == 0 && (il == kl || item[kl] == '=')) {
            *val = il == kl ? (struct http_slice){ item + kl, 0 }
                            : (struct http_slice){ item + kl + 1, il - kl - 1 };
            found = true;         /* the last occurrence wins */
        }
        i++;
    }
    return found;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

size_t http_response_head(char *out, size_t cap, int status, const char *content_type,
                          uint64_t content_length, bool keep_alive, const char *extra)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nServer: ringroom\r\nContent-Type: %s\r\n"
                     "Content-Length: %llu\r\nConnection: %s\r\n%s\r\n",
                     status, http_status_text(status), content_type,
                     (unsigned long long)content_length, keep_alive ? "keep-alive" : "close",
                     extra ? extra : "");
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t http_upgrade_response(char *out, size_t cap, const char accept[29])
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nServer: ringroom\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int http_ws_handshake_check(const struct http_request *req, char accept_out[29])
{
    if (req->method != METHOD_GET) return 405;
    if (!req->upgrade_websocket || !req->connection_upgrade) return 426;
    if (req->http_major != 1 || req->http_minor < 1) return 400;
    if (!req->has_ws_version || !slice_ieq(req->ws_version.p, req->ws_version.n, "13")) return 426;
    if (!req->ws_key.p || !ws_accept_key(req->ws_key.p, req->ws_key.n, accept_out)) return 400;
    if (req->body_len) return 400;
    return 0;
}

const char *http_ws_handshake_error(const struct http_request *req, int status, const char **extra_headers)
{
    *extra_headers = NULL;
    if (status == 426) {
        *extra_headers = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
        return "WebSocket upgrade required (version 13)\n";
    }
    if (status == 405) {
        *extra_headers = "Allow: GET\r\n";
        return "WebSocket handshake must be GET\n";
    }
    if (status != 400) return "bad WebSocket handshake\n";
    return req->ws_key.p ? "invalid Sec-WebSocket-Key\n" : "missing Sec-WebSocket-Key\n";
}
