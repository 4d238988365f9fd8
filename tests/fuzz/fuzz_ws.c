/* fuzz_ws.c: libFuzzer target for the WebSocket reader. The input (after two control bytes)
 * is parsed twice: all at once, and in chunks whose sizes come from the control bytes. Both
 * runs must produce exactly the same events (type, opcode, code, payload) because framing must
 * not depend on how TCP splits bytes; ASan/UBSan catch memory errors. */
#include "ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ev_log {
    uint8_t *buf;
    size_t len, cap;
};

static void log_event(struct ev_log *l, const struct ws_event *ev)
{
    size_t need = l->len + 16 + ev->len;
    if (need > l->cap) {
        l->cap = need * 2;
        l->buf = realloc(l->buf, l->cap);
        if (!l->buf) abort();
    }
    uint8_t *p = l->buf + l->len;
    p[0] = (uint8_t)ev->type;
    p[1] = ev->opcode;
    memcpy(p + 2, &ev->code, 2);
    uint64_t n = ev->len;
    memcpy(p + 4, &n, 8);
    if (ev->len) memcpy(p + 12, ev->data, ev->len);
    l->len += 12 + ev->len;
}

static void run(const uint8_t *data, size_t len, const struct ws_limits *lim, size_t step, struct ev_log *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) abort();
    memcpy(copy, data, len);
    struct ws_reader r;
    memset(&r, 0, sizeof r);
    size_t off = 0;
    while (off < len) {
        size_t chunk = step && step < len - off ? step : len - off;
        size_t done = 0;
        while (done < chunk) {
            size_t used;
            struct ws_event ev;
            ws_reader_next(&r, lim, copy + off + done, chunk - done, &used, &ev);
            if (used > chunk - done) abort();
            done += used;
            if (ev.type == WS_EV_NEED_MORE) {
                if (done != chunk) abort();          /* NEED_MORE consumes everything */
                continue;
            }
            log_event(out, &ev);
            if (ev.type == WS_EV_ERROR) goto out;
        }
        off += chunk;
    }
out:
    ws_reader_reset(&r);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    struct ws_limits lim = { .max_frame = 4096, .max_message = 8192, .peer_masks = !(data[0] & 1) };
    size_t step = (size_t)(data[1] % 17);
    data += 2;
    size = size - 2;
    struct ev_log whole = { 0 }, split = { 0 };
    run(data, size, &lim, 0, &whole);
    run(data, size, &lim, step ? step : 1, &split);
    if (whole.len != split.len || (whole.len && memcmp(whole.buf, split.buf, whole.len))) abort();
    free(whole.buf);
    free(split.buf);
    return 0;
}
