/* fuzz_ot.c: libFuzzer target for ot.c and doc.c. The first byte picks a mode:
 * - generated (even): the input drives the construction of a document (ASCII, 2-, 3- and
 *   4-byte characters, so UTF-16 counting and surrogate pairs are exercised) and of two
 *   concurrent ops a and b on it, with the ot_op builders; when the third bit is set,
 *   boundaries may fall anywhere (inside surrogate pairs too), and then a rejection is fine.
 * - JSON (odd): the rest is two op texts separated by '\n', parsed with ot_op_parse (fuzzes
 *   the strict op reader); a document of the right length is made up.
 * Checks whenever the inputs are accepted: transform(a, b) = (a', b') converges,
 * apply(apply(d, a), b') == apply(apply(d, b), a'); the server form (b_prime NULL) gives the
 * same a'; compose(a, b') applied to d gives the same text; ops survive a JSON round trip;
 * a doc receiving b then a (both at revision 0) applies a' and ends with the same text. */
#include "doc.h"
#include "ot.h"
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct rd *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static const char *const CHARS[] = { "a", "b", " ", "\n", "\0", "é", "ñ", "€", "中", "\xcc\x81" /* U+0301 */,
                                     "😀", "𝒜", "👍", "\xef\xbf\xbd" };
#define NCHARS (sizeof CHARS / sizeof *CHARS)

static size_t char_len(unsigned i) { return i == 4 ? 1 : strlen(CHARS[i]); }

static void gen_text(struct rd *r, char *buf, size_t *len, unsigned count)
{
    size_t n = 0;
    for (unsigned i = 0; i < count; i++) {
        unsigned c = next(r) % NCHARS;
        memcpy(buf + n, CHARS[c], char_len(c));
        n += char_len(c);
    }
    *len = n;
}

/* An op over a document of `units` units whose code point boundaries are given by doc. */
static void gen_op(struct rd *r, ot_op *op, const ot_text *doc, bool anywhere)
{
    ot_op_clear(op);
    size_t pos = 0;
    while (pos < doc->bytes || (r->n && next(r) % 4 == 0)) {
        unsigned act = next(r) % 3, k = next(r) % 6 + 1;
        if (act == 2 || pos >= doc->bytes) {
            char buf[6 * 4];
            size_t n;
            gen_text(r, buf, &n, k);
            ot_op_insert(op, buf, n);
            if (pos >= doc->bytes) break;
            continue;
        }
        /* advance k code points (or k units when anywhere) */
        size_t b = pos;
        uint64_t units = 0;
        for (unsigned i = 0; i < k && b < doc->bytes; i++) {
            uint8_t c = (uint8_t)doc->utf8[b];
            size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            b += l;
            units += l == 4 ? 2 : 1;
        }
        if (anywhere && (next(r) & 1) && units > 1) units--;          /* maybe cut a pair */
        if (act == 0) ot_op_retain(op, units);
        else ot_op_delete(op, units);
        size_t adv = utf8_offset_of_units((const uint8_t *)doc->utf8 + pos, doc->bytes - pos, (size_t)units);
        if (adv == SIZE_MAX) {
            /* ended inside a pair: finish with the rest as one retain so lengths still fit */
            ot_op_retain(op, doc->units - op->base_len);
            return;
        }
        pos += adv;
    }
    if (op->base_len < doc->units) ot_op_retain(op, doc->units - op->base_len);
}

static bool same_text(const ot_text *a, const ot_text *b)
{
    return a->bytes == b->bytes && a->units == b->units && (a->bytes == 0 || !memcmp(a->utf8, b->utf8, a->bytes));
}

static bool same_op(const ot_op *a, const ot_op *b)
{
    jw x, y;
    jw_init(&x, 64);
    jw_init(&y, 64);
    ot_op_to_json(a, &x);
    ot_op_to_json(b, &y);
    bool eq = x.len == y.len && !memcmp(x.buf, y.buf, x.len);
    jw_free(&x);
    jw_free(&y);
    return eq;
}

static void round_trip(const ot_op *a, ot_op *tmp)
{
    jw x;
    jw_init(&x, 64);
    ot_op_to_json(a, &x);
    if (ot_op_parse(tmp, x.buf, x.len) != OT_OK) abort();
    if (!same_op(a, tmp) || tmp->base_len != a->base_len || tmp->target_len != a->target_len) abort();
    jw_free(&x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    struct rd r = { data + 1, size - 1 };
    ot_op a, b, ap, bp, t;
    ot_text base, x, y, z;
    ot_op_init(&a); ot_op_init(&b); ot_op_init(&ap); ot_op_init(&bp); ot_op_init(&t);
    ot_text_init(&base); ot_text_init(&x); ot_text_init(&y); ot_text_init(&z);
    bool anywhere = false;

    if (data[0] & 1) {
        const uint8_t *nl = memchr(r.p, '\n', r.n);
        if (!nl) goto out;
        if (ot_op_parse(&a, (const char *)r.p, (size_t)(nl - r.p)) != OT_OK) goto out;
        if (ot_op_parse(&b, (const char *)nl + 1, r.n - (size_t)(nl - r.p) - 1) != OT_OK) goto out;
        if (a.base_len != b.base_len) {
            if (ot_transform(&a, &b, &ap, &bp) != OT_EBADOP) abort();
            goto out;
        }
        if (a.base_len > 4096) goto out;
        char *s = malloc(a.base_len + 1);
        if (!s) abort();
        memset(s, 'x', a.base_len);
        if (ot_text_set(&base, s, a.base_len) != OT_OK) abort();
        free(s);
    } else {
        anywhere = data[0] & 4;
        char buf[40 * 4];
        size_t n;
        gen_text(&r, buf, &n, next(&r) % 40);
        if (ot_text_set(&base, buf, n) != OT_OK) abort();
        gen_op(&r, &a, &base, anywhere);
        gen_op(&r, &b, &base, anywhere);
        if (a.base_len != base.units || b.base_len != base.units) abort();
    }
    round_trip(&a, &t);
    round_trip(&b, &t);

    int rc = ot_transform(&a, &b, &ap, &bp);
    if (rc != OT_OK) abort();                              /* same base length: never fails */
    if (ot_transform(&a, &b, &t, NULL) != OT_OK || !same_op(&t, &ap)) abort();
    if (ap.base_len != b.target_len || bp.base_len != a.target_len || ap.target_len != bp.target_len) abort();

    int ra = ot_apply(&a, &base, &x), rb = ot_apply(&b, &base, &y);
    if (!anywhere && (ra || rb)) abort();
    if (ra || rb) goto out;
    if (x.units != a.target_len || y.units != b.target_len) abort();
    if (!utf8_valid((const uint8_t *)x.utf8, x.bytes) || !utf8_valid((const uint8_t *)y.utf8, y.bytes)) abort();
    int r1 = ot_apply(&bp, &x, &z);
    int r2 = ot_apply(&ap, &y, &x);                        /* x no longer needed */
    if (!anywhere && (r1 || r2)) abort();
    if (r1 || r2) goto out;
    if (!same_text(&z, &x)) abort();

    /* compose(a, b') applied to the document == apply(apply(document, a), b') */
    rc = ot_compose(&a, &bp, &t);
    if (rc == OT_OK) {
        if (ot_apply(&t, &base, &y) != OT_OK || !same_text(&y, &z)) abort();
    } else if (!anywhere) {
        abort();
    }

    /* the server path: b arrives first, then a based on revision 0 becomes a' */
    {
        doc *d = doc_new(base.utf8, base.bytes, 0, 4, SIZE_MAX);
        if (!d) abort();
        if (ot_op_copy(&t, &b) || doc_receive(d, 0, &t) != DOC_OK || !same_op(&t, &b)) abort();
        if (ot_op_copy(&t, &a) || doc_receive(d, 0, &t) != DOC_OK || !same_op(&t, &ap)) abort();
        if (!same_text(doc_text(d), &z) || doc_rev(d) != 2) abort();
        doc_free(d);
    }
out:
    ot_op_free(&a); ot_op_free(&b); ot_op_free(&ap); ot_op_free(&bp); ot_op_free(&t);
    ot_text_free(&base); ot_text_free(&x); ot_text_free(&y); ot_text_free(&z);
    return 0;
}
