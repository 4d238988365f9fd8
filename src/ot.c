/* ot.c: see ot.h.
 *
 * Hand-written because no C library implements ot.js's TextOperation: the wire format, the
 * canonical form (insert before delete), the tie-break of transform and the UTF-16 counting
 * all have to match ot.js 0.0.15 byte for byte, and the server stores UTF-8. The algorithms
 * below are ot.js's compose/transform/apply loops transcribed, with a cursor that can cut
 * an insert string at a UTF-16 unit boundary (mapped to a UTF-8 byte offset). Components
 * live in one growable array and insert text in one growable buffer per op: no allocation
 * per component, and ops are reused across calls.
 */
#include "ot.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- memory */

void ot_op_init(ot_op *op) { memset(op, 0, sizeof *op); }

void ot_op_clear(ot_op *op)
{
    op->ncomps = 0;
    op->text_len = 0;
    op->base_len = op->target_len = 0;
}

void ot_op_free(ot_op *op)
{
    free(op->comps);
    free(op->text);
    ot_op_init(op);
}

void ot_op_swap(ot_op *a, ot_op *b)
{
    ot_op t = *a;
    *a = *b;
    *b = t;
}

static int reserve_comps(ot_op *op, uint32_t extra)
{
    if (op->cap - op->ncomps >= extra) return OT_OK;
    if (extra > UINT32_MAX / 2 - op->ncomps) return OT_ENOMEM;
    uint32_t nc = op->cap ? op->cap : 8;
    while (nc - op->ncomps < extra) nc *= 2;
    struct ot_comp *p = realloc(op->comps, (size_t)nc * sizeof *p);
    if (!p) return OT_ENOMEM;
    op->comps = p;
    op->cap = nc;
    return OT_OK;
}

static int reserve_text(ot_op *op, size_t extra)
{
    if (op->text_cap - op->text_len >= extra) return OT_OK;
    if (extra > SIZE_MAX / 4 - op->text_len) return OT_ENOMEM;
    size_t nc = op->text_cap ? op->text_cap : 64;
    while (nc - op->text_len < extra) nc *= 2;
    char *p = realloc(op->text, nc);
    if (!p) return OT_ENOMEM;
    op->text = p;
    op->text_cap = nc;
    return OT_OK;
}

int ot_op_copy(ot_op *dst, const ot_op *src)
{
    if (dst == src) return OT_OK;
    ot_op_clear(dst);
    if (reserve_comps(dst, src->ncomps) || reserve_text(dst, src->text_len)) return OT_ENOMEM;
    if (src->ncomps) memcpy(dst->comps, src->comps, (size_t)src->ncomps * sizeof *src->comps);
    if (src->text_len) memcpy(dst->text, src->text, src->text_len);
    dst->ncomps = src->ncomps;
    dst->text_len = src->text_len;
    dst->base_len = src->base_len;
    dst->target_len = src->target_len;
    return OT_OK;
}

/* ---------------------------------------------------------------- builders (ot.js) */

static inline struct ot_comp *last(ot_op *op, uint32_t back)
{
    return op->ncomps > back ? &op->comps[op->ncomps - 1 - back] : NULL;
}

int ot_op_retain(ot_op *op, uint64_t n)
{
    if (n == 0) return OT_OK;
    if (n > OT_MAX_LEN || op->base_len + n > OT_MAX_LEN || op->target_len + n > OT_MAX_LEN) return OT_EBADOP;
    struct ot_comp *l = last(op, 0);
    if (l && l->type == OT_RETAIN) {
        l->units += n;
    } else {
        if (reserve_comps(op, 1)) return OT_ENOMEM;
        op->comps[op->ncomps++] = (struct ot_comp){ .units = n, .type = OT_RETAIN };
    }
    op->base_len += n;
    op->target_len += n;
    return OT_OK;
}

int ot_op_delete(ot_op *op, uint64_t n)
{
    if (n == 0) return OT_OK;
    if (n > OT_MAX_LEN || op->base_len + n > OT_MAX_LEN) return OT_EBADOP;
    struct ot_comp *l = last(op, 0);
    if (l && l->type == OT_DELETE) {
        l->units += n;
    } else {
        if (reserve_comps(op, 1)) return OT_ENOMEM;
        op->comps[op->ncomps++] = (struct ot_comp){ .units = n, .type = OT_DELETE };
    }
    op->base_len += n;
    return OT_OK;
}

/* Commits text[text_len .. text_len + bytes) (already written past the end) as an insert of
 * `units` UTF-16 units. The text buffer always ends with the last insert's text (deletes
 * carry none), which is what makes merging into the previous insert an append. */
static int commit_insert(ot_op *op, size_t bytes, uint64_t units)
{
    if (bytes == 0) return OT_OK;
    if (units > OT_MAX_LEN || op->target_len + units > OT_MAX_LEN) return OT_EBADOP;
    struct ot_comp *l = last(op, 0);
    if (l && l->type == OT_INSERT) {
        l->bytes += bytes;
        l->units += units;
    } else if (l && l->type == OT_DELETE) {
        struct ot_comp *l2 = last(op, 1);
        if (l2 && l2->type == OT_INSERT) {
            l2->bytes += bytes;
            l2->units += units;
        } else {
            if (reserve_comps(op, 1)) return OT_ENOMEM;
            l = last(op, 0);                       /* may have moved */
            op->comps[op->ncomps] = *l;
            *l = (struct ot_comp){ .units = units, .off = op->text_len, .bytes = bytes, .type = OT_INSERT };
            op->ncomps++;
        }
    } else {
        if (reserve_comps(op, 1)) return OT_ENOMEM;
        op->comps[op->ncomps++] =
            (struct ot_comp){ .units = units, .off = op->text_len, .bytes = bytes, .type = OT_INSERT };
    }
    op->text_len += bytes;
    op->target_len += units;
    return OT_OK;
}

static int insert_units(ot_op *op, const char *utf8, size_t bytes, uint64_t units)
{
    if (bytes == 0) return OT_OK;
    if (reserve_text(op, bytes)) return OT_ENOMEM;
    memcpy(op->text + op->text_len, utf8, bytes);
    return commit_insert(op, bytes, units);
}

int ot_op_insert(ot_op *op, const char *utf8, size_t bytes)
{
    return insert_units(op, utf8, bytes, utf8_utf16_len((const uint8_t *)utf8, bytes));
}

/* ---------------------------------------------------------------- JSON */

/* A JSON number (already grammar-checked) whose value is an integer with |v| <= 2^53:
 * 3, -3, 3.0, 3e0, 0.3e1, 300e-2 all give 3. False for non-integers and larger values. */
static bool number_to_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') { neg = true; i++; }
    uint64_t val = 0;
    int64_t sig = 0, zeros = 0, frac = 0;     /* significant digits, pending trailing zeros */
    bool started = false, in_frac = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.') { in_frac = true; continue; }
        if (c < '0' || c > '9') break;
        if (in_frac) frac++;
        if (c == '0') {
            if (started) zeros++;
            continue;
        }
        started = true;
        sig += zeros + 1;
        if (sig > 17) return false;            /* >= 10^16 or not an integer */
        for (; zeros > 0; zeros--) val *= 10;
        val = val * 10 + (uint64_t)(c - '0');
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        for (; i < n; i++) {
            if (exp < 1000000000) exp = exp * 10 + (s[i] - '0');
        }
        if (eneg) exp = -exp;
    }
    if (val == 0) { *out = 0; return true; }
    int64_t e = exp - frac + zeros;            /* value = val * 10^e */
    if (e < 0) return false;                   /* last significant digit is non-zero */
    if (sig + e > 16) return false;            /* >= 10^16 > 2^53 */
    for (; e > 0; e--) val *= 10;
    if (val > OT_MAX_LEN) return false;
    *out = neg ? -(int64_t)val : (int64_t)val;
    return true;
}

int ot_op_from_json(ot_op *op, const json_doc *d, int tok)
{
    ot_op_clear(op);
    if (!json_is_array(d, tok)) return OT_EBADOP;
    int n = d->tok[tok].size, rc = OT_OK;
    if (reserve_comps(op, (uint32_t)(n > 0 ? n : 0))) return OT_ENOMEM;
    int i = tok + 1;
    for (int k = 0; k < n; k++, i = json_next(d, i)) {
        if (i >= d->ntok) { rc = OT_EBADOP; break; }
        const jsmntok_t *t = &d->tok[i];
        if (t->type == JSMN_STRING) {
            size_t raw = json_raw_len(d, i), bytes;
            if (raw == 0) { rc = OT_EBADOP; break; }             /* "" (odd in ot.js) */
            if (reserve_text(op, raw)) { rc = OT_ENOMEM; break; }
            if (json_get_string(d, i, op->text + op->text_len, raw, &bytes) != JSON_OK) { rc = OT_EBADOP; break; }
            /* json.h trusts its input to be UTF-8; documents must stay valid, so check */
            if (!utf8_valid((const uint8_t *)op->text + op->text_len, bytes)) { rc = OT_EBADOP; break; }
            rc = commit_insert(op, bytes, utf8_utf16_len((const uint8_t *)op->text + op->text_len, bytes));
        } else if (t->type == JSMN_PRIMITIVE) {
            const char *s = json_raw(d, i);
            int64_t v;
            if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) || !number_to_int(s, json_raw_len(d, i), &v) || v == 0) {
                rc = OT_EBADOP;
                break;
            }
            rc = v > 0 ? ot_op_retain(op, (uint64_t)v) : ot_op_delete(op, (uint64_t)-v);
        } else {
            rc = OT_EBADOP;
        }
        if (rc) break;
    }
    if (rc) ot_op_clear(op);
    return rc;
}

int ot_op_parse(ot_op *op, const char *json, size_t len)
{
    ot_op_clear(op);
    size_t max = len / 2 + 2;
    if (max > (size_t)INT32_MAX) return OT_EBADOP;
    jsmntok_t *toks = malloc(max * sizeof *toks);
    if (!toks) return OT_ENOMEM;
    json_doc d;
    int rc = json_parse(&d, json, len, toks, (int)max);
    rc = rc == JSON_OK ? ot_op_from_json(op, &d, 0) : OT_EBADOP;
    free(toks);
    return rc;
}

void ot_op_to_json(const ot_op *op, jw *w)
{
    jw_char(w, '[');
    for (uint32_t i = 0; i < op->ncomps; i++) {
        const struct ot_comp *c = &op->comps[i];
        if (i) jw_char(w, ',');
        switch (c->type) {
        case OT_RETAIN: jw_uint(w, c->units); break;
        case OT_DELETE: jw_char(w, '-'); jw_uint(w, c->units); break;
        default: jw_str(w, op->text + c->off, c->bytes); break;
        }
    }
    jw_char(w, ']');
}

/* ---------------------------------------------------------------- text */

void ot_text_init(ot_text *t) { memset(t, 0, sizeof *t); }

void ot_text_free(ot_text *t)
{
    free(t->utf8);
    ot_text_init(t);
}

void ot_text_swap(ot_text *a, ot_text *b)
{
    ot_text t = *a;
    *a = *b;
    *b = t;
}

static int text_reserve(ot_text *t, size_t need)
{
    if (t->cap >= need && t->utf8) return OT_OK;      /* never NULL once used */
    size_t nc = t->cap ? t->cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 4) return OT_ENOMEM;
        nc *= 2;
    }
    char *p = realloc(t->utf8, nc);
    if (!p) return OT_ENOMEM;
    t->utf8 = p;
    t->cap = nc;
    return OT_OK;
}

int ot_text_set(ot_text *t, const char *utf8, size_t bytes)
{
    if (!utf8_valid((const uint8_t *)utf8, bytes)) return OT_EBADOP;
    if (text_reserve(t, bytes)) return OT_ENOMEM;
    if (bytes) memcpy(t->utf8, utf8, bytes);
    t->bytes = bytes;
    t->units = utf8_utf16_len((const uint8_t *)utf8, bytes);
    return OT_OK;
}

int ot_apply(const ot_op *op, const ot_text *doc, ot_text *out)
{
    if (op->base_len != doc->units) return OT_EBADOP;
    if (doc->bytes > SIZE_MAX / 2 - op->text_len) return OT_ENOMEM;
    if (text_reserve(out, doc->bytes + op->text_len)) return OT_ENOMEM;
    const uint8_t *s = (const uint8_t *)doc->utf8;
    size_t pos = 0, o = 0;
    for (uint32_t i = 0; i < op->ncomps; i++) {
        const struct ot_comp *c = &op->comps[i];
        if (c->type == OT_INSERT) {
            memcpy(out->utf8 + o, op->text + c->off, c->bytes);
            o += c->bytes;
            continue;
        }
        size_t b = utf8_offset_of_units(s + pos, doc->bytes - pos, (size_t)c->units);
        if (b == SIZE_MAX) return OT_EBADOP;               /* splits a pair (or too long) */
        if (c->type == OT_RETAIN) {
            memcpy(out->utf8 + o, s + pos, b);
            o += b;
        }
        pos += b;
    }
    if (pos != doc->bytes) return OT_EBADOP;
    out->bytes = o;
    out->units = op->target_len;
    return OT_OK;
}

/* ---------------------------------------------------------------- compose / transform */

/* Walks an op's components; the current one can be partly consumed. */
struct cur {
    const ot_op *op;
    uint32_t i;
    int type;            /* -1 at the end */
    uint64_t n;          /* units left in the current component */
    size_t off, bytes;   /* insert: text left */
};

static void cur_next(struct cur *c)
{
    if (c->i >= c->op->ncomps) { c->type = -1; return; }
    const struct ot_comp *k = &c->op->comps[c->i++];
    c->type = k->type;
    c->n = k->units;
    c->off = k->off;
    c->bytes = k->bytes;
}

static void cur_start(struct cur *c, const ot_op *op)
{
    c->op = op;
    c->i = 0;
    cur_next(c);
}

/* Consumes k < c->n units of the current insert; *b gets the byte length of the prefix. */
static int cur_cut(struct cur *c, uint64_t k, size_t *b)
{
    size_t x = utf8_offset_of_units((const uint8_t *)c->op->text + c->off, c->bytes, (size_t)k);
    if (x == SIZE_MAX) return OT_EBADOP;                    /* inside a surrogate pair */
    *b = x;
    c->off += x;
    c->bytes -= x;
    c->n -= k;
    return OT_OK;
}

static inline const char *cur_text(const struct cur *c) { return c->op->text + c->off; }

int ot_compose(const ot_op *a, const ot_op *b, ot_op *out)
{
    if (a->target_len != b->base_len) return OT_EBADOP;
    ot_op_clear(out);
    if (reserve_comps(out, a->ncomps + b->ncomps) || reserve_text(out, a->text_len + b->text_len))
        return OT_ENOMEM;
    struct cur c1 = { 0 }, c2 = { 0 };
    cur_start(&c1, a);
    cur_start(&c2, b);
    int rc = OT_OK;
    while (rc == OT_OK) {
        if (c1.type < 0 && c2.type < 0) break;
        if (c1.type == OT_DELETE) { rc = ot_op_delete(out, c1.n); cur_next(&c1); continue; }
        if (c2.type == OT_INSERT) { rc = insert_units(out, cur_text(&c2), c2.bytes, c2.n); cur_next(&c2); continue; }
        if (c1.type < 0 || c2.type < 0) return OT_EBADOP;   /* lengths checked: cannot happen */
        if (c1.type == OT_RETAIN && c2.type == OT_RETAIN) {
            if (c1.n > c2.n) { rc = ot_op_retain(out, c2.n); c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { rc = ot_op_retain(out, c1.n); cur_next(&c1); cur_next(&c2); }
            else { rc = ot_op_retain(out, c1.n); c2.n -= c1.n; cur_next(&c1); }
        } else if (c1.type == OT_INSERT && c2.type == OT_DELETE) {
            if (c1.n > c2.n) { size_t x; rc = cur_cut(&c1, c2.n, &x); cur_next(&c2); }
            else if (c1.n == c2.n) { cur_next(&c1); cur_next(&c2); }
            else { c2.n -= c1.n; cur_next(&c1); }
        } else if (c1.type == OT_INSERT && c2.type == OT_RETAIN) {
            if (c1.n > c2.n) {
                size_t x;
                const char *t = cur_text(&c1);
                uint64_t k = c2.n;
                rc = cur_cut(&c1, k, &x);
                if (rc == OT_OK) rc = insert_units(out, t, x, k);
                cur_next(&c2);
            } else if (c1.n == c2.n) {
                rc = insert_units(out, cur_text(&c1), c1.bytes, c1.n);
                cur_next(&c1);
                cur_next(&c2);
            } else {
                rc = insert_units(out, cur_text(&c1), c1.bytes, c1.n);
                c2.n -= c1.n;
                cur_next(&c1);
            }
        } else if (c1.type == OT_RETAIN && c2.type == OT_DELETE) {
            if (c1.n > c2.n) { rc = ot_op_delete(out, c2.n); c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { rc = ot_op_delete(out, c2.n); cur_next(&c1); cur_next(&c2); }
            else { rc = ot_op_delete(out, c1.n); c2.n -= c1.n; cur_next(&c1); }
        } else {
            return OT_EBADOP;
        }
    }
    return rc;
}

static inline int retain_opt(ot_op *op, uint64_t n) { return op ? ot_op_retain(op, n) : OT_OK; }
static inline int delete_opt(ot_op *op, uint64_t n) { return op ? ot_op_delete(op, n) : OT_OK; }

int ot_transform(const ot_op *a, const ot_op *b, ot_op *ap, ot_op *bp)
{
    if (a->base_len != b->base_len) return OT_EBADOP;
    ot_op_clear(ap);
    if (reserve_comps(ap, a->ncomps + b->ncomps + 1) || reserve_text(ap, a->text_len)) return OT_ENOMEM;
    if (bp) {
        ot_op_clear(bp);
        if (reserve_comps(bp, a->ncomps + b->ncomps + 1) || reserve_text(bp, b->text_len)) return OT_ENOMEM;
    }
    struct cur c1 = { 0 }, c2 = { 0 };
    cur_start(&c1, a);
    cur_start(&c2, b);
    int rc = OT_OK;
    while (rc == OT_OK) {
        if (c1.type < 0 && c2.type < 0) break;
        if (c1.type == OT_INSERT) {
            rc = insert_units(ap, cur_text(&c1), c1.bytes, c1.n);
            if (rc == OT_OK) rc = retain_opt(bp, c1.n);
            cur_next(&c1);
            continue;
        }
        if (c2.type == OT_INSERT) {
            rc = ot_op_retain(ap, c2.n);
            if (rc == OT_OK && bp) rc = insert_units(bp, cur_text(&c2), c2.bytes, c2.n);
            cur_next(&c2);
            continue;
        }
        if (c1.type < 0 || c2.type < 0) return OT_EBADOP;   /* lengths checked: cannot happen */
        uint64_t minl;
        if (c1.type == OT_RETAIN && c2.type == OT_RETAIN) {
            if (c1.n > c2.n) { minl = c2.n; c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { minl = c2.n; cur_next(&c1); cur_next(&c2); }
            else { minl = c1.n; c2.n -= c1.n; cur_next(&c1); }
            rc = ot_op_retain(ap, minl);
            if (rc == OT_OK) rc = retain_opt(bp, minl);
        } else if (c1.type == OT_DELETE && c2.type == OT_DELETE) {
            if (c1.n > c2.n) { c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { cur_next(&c1); cur_next(&c2); }
            else { c2.n -= c1.n; cur_next(&c1); }
        } else if (c1.type == OT_DELETE && c2.type == OT_RETAIN) {
            if (c1.n > c2.n) { minl = c2.n; c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { minl = c2.n; cur_next(&c1); cur_next(&c2); }
            else { minl = c1.n; c2.n -= c1.n; cur_next(&c1); }
            rc = ot_op_delete(ap, minl);
        } else if (c1.type == OT_RETAIN && c2.type == OT_DELETE) {
            if (c1.n > c2.n) { minl = c2.n; c1.n -= c2.n; cur_next(&c2); }
            else if (c1.n == c2.n) { minl = c1.n; cur_next(&c1); cur_next(&c2); }
            else { minl = c1.n; c2.n -= c1.n; cur_next(&c1); }
            rc = delete_opt(bp, minl);
        } else {
            return OT_EBADOP;
        }
    }
    return rc;
}
