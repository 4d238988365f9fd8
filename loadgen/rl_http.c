/* rl_http.c: see rl_http.h. The answer is read until the server closes (we send
 * Connection: close); Content-Length and chunked bodies are both understood. */
#include "rl_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_ANSWER (64u << 20)

/* Decodes a chunked body in place; returns its length or -1. */
static long dechunk(char *p, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long sz = strtoul(p + in, &end, 16);
        if (end == p + in) return -1;
        char *eol = memchr(end, '\n', n - (size_t)(end - p));
        if (!eol) return -1;
        in = (size_t)(eol - p) + 1;
        if (sz == 0) return (long)out;
        if (in + sz > n) return -1;
        memmove(p + out, p + in, sz);
        out += sz;
        in += sz;
        if (in + 2 <= n && p[in] == '\r') in += 2;
        else if (in + 1 <= n && p[in] == '\n') in += 1;
    }
}

int rl_http_get(const struct sockaddr_in *dst, const char *host_header, const char *path, int timeout_ms,
                char **body, size_t *len)
{
    *body = NULL;
    *len = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst)) {
        int err = -errno;
        close(fd);
        return err;
    }
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nUser-Agent: ringload\r\n\r\n",
                     path, host_header);
    if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -EIO;
    }
    size_t cap = 65536, have = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (have == cap) {
            if (cap >= MAX_ANSWER) break;
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + have, cap - have, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        have += (size_t)r;
    }
    close(fd);
    buf[have] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return -EPROTO;
    }
    char *hdr_end = strstr(buf, "\r\n\r\n");
    if (!hdr_end) {
        free(buf);
        return -EPROTO;
    }
    char *b = hdr_end + 4;
    size_t blen = have - (size_t)(b - buf);
    bool chunked = false;
    long clen = -1;
    for (char *line = strstr(buf, "\r\n") + 2; line < hdr_end;) {
        char *eol = strstr(line, "\r\n");
        if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line, "chunked") && strstr(line, "chunked") < eol) chunked = true;
        if (!strncasecmp(line, "content-length:", 15)) clen = strtol(line + 15, NULL, 10);
        line = eol + 2;
    }
    if (chunked) {
        long dl = dechunk(b, blen);
        if (dl < 0) {
            free(buf);
            return -EPROTO;
        }
        blen = (size_t)dl;
    } else if (clen >= 0 && (size_t)clen < blen) {
        blen = (size_t)clen;
    }
    memmove(buf, b, blen);
    buf[blen] = '\0';
    *body = buf;
    *len = blen;
    return status;
}
