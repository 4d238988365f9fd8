/* fuzz_json.c: libFuzzer target for json_parse and the readers. Parsing must never crash or
 * read out of bounds; when the input is accepted every token is walked with json_next /
 * json_obj_get / json_get_int64, and every string that unescapes is written back with jw_str,
 * re-parsed and unescaped again: it must come back byte for byte (writer/reader round trip).
 * The round trip is checked only for valid UTF-8 input, which json.h requires (the WebSocket
 * layer validates it); invalid UTF-8 must still not crash. */
#include "json.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOK 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* copy so ASan sees reads past the end of the exact buffer */
    char *js = malloc(size ? size : 1);
    if (!js) abort();
    memcpy(js, data, size);
    static jsmntok_t tok[MAX_TOK], tok2[2];
    json_doc d;
    int rc = json_parse(&d, js, size, tok, MAX_TOK);
    if (rc != JSON_OK) goto out;
    if (d.ntok < 1 || json_next(&d, 0) != d.ntok) abort();
    jw w;
    jw_init(&w, 0);
    for (int i = 0; i < d.ntok; i++) {
        if (d.tok[i].start < 0 || d.tok[i].end > (int)size || d.tok[i].end < d.tok[i].start) abort();
        if (json_next(&d, i) <= i) abort();
        int64_t v;
        bool b;
        (void)json_get_int64(&d, i, &v);
        (void)json_get_bool(&d, i, &b);
        if (json_is_object(&d, i)) {
            (void)json_obj_get(&d, i, "type");
            (void)json_obj_get(&d, i, "");
        }
        if (!json_is_string(&d, i)) continue;
        size_t cap = json_raw_len(&d, i), n;
        char *s = malloc(cap ? cap : 1);
        if (!s) abort();
        if (json_get_string(&d, i, s, cap, &n) == JSON_OK && utf8_valid(data, size)) {
            if (n > cap) abort();
            jw_reset(&w);
            jw_str(&w, s, n);
            if (w.oom) abort();
            json_doc d2;
            if (json_parse(&d2, w.buf, w.len, tok2, 2) != JSON_OK || d2.ntok != 1) abort();
            char *s2 = malloc(w.len);
            size_t n2;
            if (!s2) abort();
            if (json_get_string(&d2, 0, s2, w.len, &n2) != JSON_OK) abort();
            if (n2 != n || memcmp(s, s2, n)) abort();
            if (!memchr(s, 0, n)) {
                char *z = malloc(n + 1);
                if (!z) abort();
                memcpy(z, s, n);
                z[n] = 0;
                if (!json_str_eq(&d, i, z)) abort();
                free(z);
            }
            free(s2);
        }
        free(s);
    }
    jw_free(&w);
out:
    free(js);
    return 0;
}
