/* rl_http.h: one blocking HTTP/1.1 GET on loopback, for the end-of-run checks (ot fetches
 * GET /rooms/<room>). Not on the load path: it runs after the measured window, one request
 * at a time, with a timeout. The caller owns and frees the body.
 */
#ifndef RINGLOAD_HTTP_H
#define RINGLOAD_HTTP_H

#include <netinet/in.h>
#include <stddef.h>

/* GETs `path` from dst. Returns the HTTP status (body in *body, NUL-terminated, *len bytes)
 * or -errno; *body is NULL on failure. */
int rl_http_get(const struct sockaddr_in *dst, const char *host_header, const char *path, int timeout_ms,
                char **body, size_t *len);

#endif
