/* json.c: see json.h. Owns nothing but the jw buffer; the parser writes only into the
 * caller's token array.
 *
 * Why jsmn: it tokenizes in one pass into a caller-supplied array (no allocation, no tree),
 * and the tokens (type, start, end, parent) are exactly what the protocol readers need: they
 * look up a few keys and read strings and integers in place. jsmn is however lenient (it does
 * not check what sits between tokens, accepts several top-level values, any primitive that
 * starts with a digit/t/f/n, bad \u escapes at the end of input, raw control characters, and
 * in strict mode refuses a bare top-level number). So after jsmn has run, json_parse() walks
 * the text once more with a small RFC 8259 state machine and checks that every token jsmn
 * produced sits exactly where the grammar puts a value, with the right type and parent, and
 * that the number, literal and string grammars hold. No recursion: the container stack is
 * the parent links of the tokens themselves, so nesting depth is bounded only by max_tok.
 *
 * This is the only file that defines the jsmn implementation (json.h sets JSMN_HEADER for
 * everybody else).
 */
#undef JSMN_HEADER
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- grammar checks */

static inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 8259 number or one of the three literals, exactly filling s[0..n). */
static bool valid_primitive(const char *s, size_t n)
{
    if (n == 4 && !memcmp(s, "true", 4)) return true;
    if (n == 5 && !memcmp(s, "false", 5)) return true;
    if (n == 4 && !memcmp(s, "null", 4)) return true;
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return false;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && is_digit(s[i])) i++; }
    else return false;
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i])) return false;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i])) return false;
        while (i < n && is_digit(s[i])) i++;
    }
    return i == n;
}

/* String body s[0..n) (between the quotes): no raw control characters, no raw quote, valid
 * escapes only. Surrogate pairing is checked by json_get_string, not here (RFC 8259 allows
 * unpaired \uD800 grammatically; we refuse it where we read it). */
static bool valid_string_body(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"') return false;
        if (c != '\\') continue;
        if (++i >= n) return false;
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (n - i < 5) return false;
            for (int k = 1; k <= 4; k++)
                if (hexval(s[i + k]) < 0) return false;
            i += 4;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* The container that holds a value whose token parent is p: p itself (array, or object for
 * keys) or, for object values, the parent of the key. */
static int container_of(const jsmntok_t *tok, int p)
{
    if (p >= 0 && tok[p].type == JSMN_STRING) return tok[p].parent;
    return p;
}

enum vstate { V_VALUE, V_VALUE_OR_CLOSE, V_KEY, V_KEY_OR_CLOSE, V_COLON, V_AFTER };

/* Walks s[0..n) with the RFC 8259 grammar and checks it against tok[0..ntok). */
static bool validate(const char *s, size_t n, const jsmntok_t *tok, int ntok)
{
    size_t p = 0;
    int t = 0, cur = -1, key = -1;
    enum vstate st = V_VALUE;
    for (;;) {
        while (p < n && is_ws(s[p])) p++;
        if (st == V_AFTER && cur < 0) return p == n && t == ntok;
        if (p >= n) return false;
        char c = s[p];
        if (st == V_COLON) {
            if (c != ':') return false;
            p++;
            st = V_VALUE;
            continue;
        }
        bool close = false;
        if (st == V_AFTER) {
            bool arr = tok[cur].type == JSMN_ARRAY;
            if (c == ',') { p++; st = arr ? V_VALUE : V_KEY; continue; }
            if (c != (arr ? ']' : '}')) return false;
            close = true;
        } else if ((st == V_VALUE_OR_CLOSE && c == ']') || (st == V_KEY_OR_CLOSE && c == '}')) {
            close = true;
        }
        if (close) {
            if ((size_t)tok[cur].end != p + 1) return false;
            p++;
            cur = container_of(tok, tok[cur].parent);
            st = V_AFTER;
            continue;
        }
        if (t >= ntok) return false;
        const jsmntok_t *k = &tok[t];
        if (st == V_KEY || st == V_KEY_OR_CLOSE) {
            if (c != '"' || k->type != JSMN_STRING || (size_t)k->start != p + 1 || k->parent != cur)
                return false;
            if ((size_t)k->end >= n || s[k->end] != '"') return false;
            if (!valid_string_body(s + k->start, (size_t)(k->end - k->start))) return false;
            key = t++;
            p = (size_t)k->end + 1;
            st = V_COLON;
            continue;
        }
        /* a value */
        int want_parent = cur < 0 ? -1 : tok[cur].type == JSMN_ARRAY ? cur : key;
        if (k->parent != want_parent) return false;
        if (c == '{' || c == '[') {
            if (k->type != (c == '{' ? JSMN_OBJECT : JSMN_ARRAY) || (size_t)k->start != p) return false;
            cur = t++;
            p++;
            st = c == '{' ? V_KEY_OR_CLOSE : V_VALUE_OR_CLOSE;
        } else if (c == '"') {
            if (k->type != JSMN_STRING || (size_t)k->start != p + 1) return false;
            if ((size_t)k->end >= n || s[k->end] != '"') return false;
            if (!valid_string_body(s + k->start, (size_t)(k->end - k->start))) return false;
            t++;
            p = (size_t)k->end + 1;
            st = V_AFTER;
        } else {
            if (k->type != JSMN_PRIMITIVE || (size_t)k->start != p || k->end < k->start) return false;
            if (!valid_primitive(s + k->start, (size_t)(k->end - k->start))) return false;
            t++;
            p = (size_t)k->end;
            st = V_AFTER;
        }
    }
}

int json_parse(json_doc *d, const char *js, size_t len, jsmntok_t *toks, int max_tok)
{
    d->js = js;
    d->len = len;
    d->tok = toks;
    d->ntok = 0;
    if (len >= INT_MAX) return JSON_EINVAL;
    if (max_tok < 1) return JSON_ETOOMANY;
    size_t p = 0;
    while (p < len && is_ws(js[p])) p++;
    if (p == len) return JSON_EINVAL;
    int n;
    if (js[p] != '{' && js[p] != '[' && js[p] != '"') {
        /* A bare top-level primitive: jsmn's strict mode wants a delimiter after it, so
         * tokenize it here. */
        size_t e = p;
        while (e < len && !is_ws(js[e]) && js[e] != ',' && js[e] != ']' && js[e] != '}' && js[e] != ':') e++;
        toks[0] = (jsmntok_t){ .type = JSMN_PRIMITIVE, .start = (int)p, .end = (int)e, .size = 0, .parent = -1 };
        n = 1;
    } else {
        jsmn_parser jp;
        jsmn_init(&jp);
        n = jsmn_parse(&jp, js, len, toks, (unsigned)max_tok);
        if (n == JSMN_ERROR_NOMEM) return JSON_ETOOMANY;
        if (n <= 0) return JSON_EINVAL;
    }
    if (!validate(js, len, toks, n)) return JSON_EINVAL;
    d->ntok = n;
    return JSON_OK;
}

/* ---------------------------------------------------------------- readers */

int json_next(const json_doc *d, int i)
{
    int end = d->tok[i].end;
    int j = i + 1;
    while (j < d->ntok && d->tok[j].start < end) j++;
    return j;
}

int json_obj_get(const json_doc *d, int obj, const char *key)
{
    if (!json_is_object(d, obj)) return -1;
    int found = -1, end = d->tok[obj].end;
    int j = obj + 1;
    while (j + 1 < d->ntok && d->tok[j].start < end) {
        if (json_str_eq(d, j, key)) found = j + 1;
        j = json_next(d, j + 1);
    }
    return found;
}

bool json_is_object(const json_doc *d, int i) { return i >= 0 && i < d->ntok && d->tok[i].type == JSMN_OBJECT; }
bool json_is_array(const json_doc *d, int i) { return i >= 0 && i < d->ntok && d->tok[i].type == JSMN_ARRAY; }
bool json_is_string(const json_doc *d, int i) { return i >= 0 && i < d->ntok && d->tok[i].type == JSMN_STRING; }
bool json_is_null(const json_doc *d, int i)
{
    return i >= 0 && i < d->ntok && d->tok[i].type == JSMN_PRIMITIVE && d->js[d->tok[i].start] == 'n';
}

bool json_get_int64(const json_doc *d, int i, int64_t *out)
{
    if (i < 0 || i >= d->ntok || d->tok[i].type != JSMN_PRIMITIVE) return false;
    const char *s = json_raw(d, i);
    size_t n = json_raw_len(d, i), k = 0;
    bool neg = false;
    if (k < n && s[k] == '-') { neg = true; k++; }
    if (k >= n) return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; k < n; k++) {
        if (!is_digit(s[k])) return false;          /* '.', 'e', literals */
        uint64_t dg = (uint64_t)(s[k] - '0');
        if (v > (lim - dg) / 10) return false;
        v = v * 10 + dg;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool json_get_bool(const json_doc *d, int i, bool *out)
{
    if (i < 0 || i >= d->ntok || d->tok[i].type != JSMN_PRIMITIVE) return false;
    char c = d->js[d->tok[i].start];
    if (c == 't') { *out = true; return true; }
    if (c == 'f') { *out = false; return true; }
    return false;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t hex4(const char *s)
{
    return (uint32_t)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

/* Decodes the next piece of the (validated) string body s[*i..n) into o[0..4): a raw byte run
 * of at most one byte, or one escape (a pair counts as one). Returns bytes written or -1 for
 * a lone surrogate. */
static int next_piece(const char *s, size_t n, size_t *i, char o[4])
{
    size_t k = *i;
    unsigned char c = (unsigned char)s[k];
    if (c != '\\') {
        /* An unescaped surrogate (ED A0..BF) is not UTF-8; refuse it like an escaped one. */
        if (c == 0xED && k + 1 < n && (unsigned char)s[k + 1] >= 0xA0) return -1;
        o[0] = (char)c;
        *i = k + 1;
        return 1;
    }
    char e = s[k + 1];
    *i = k + 2;
    switch (e) {
    case 'b': o[0] = '\b'; return 1;
    case 'f': o[0] = '\f'; return 1;
    case 'n': o[0] = '\n'; return 1;
    case 'r': o[0] = '\r'; return 1;
    case 't': o[0] = '\t'; return 1;
    case 'u': break;
    default: o[0] = e; return 1;                    /* " \ / */
    }
    uint32_t cp = hex4(s + k + 2);
    *i = k + 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (n - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u') return -1;
        uint32_t lo = hex4(s + *i + 2);
        if (lo < 0xDC00 || lo > 0xDFFF) return -1;
        *i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return (int)put_utf8(o, cp);
}

int json_get_string(const json_doc *d, int i, char *out, size_t cap, size_t *out_len)
{
    if (!json_is_string(d, i)) return JSON_EINVAL;
    const char *s = json_raw(d, i);
    size_t n = json_raw_len(d, i), k = 0, o = 0;
    int rc = JSON_OK;
    while (k < n) {
        /* fast path: a run of plain bytes */
        size_t start = k;
        while (k < n && s[k] != '\\' && (unsigned char)s[k] != 0xED) k++;
        if (k > start) {
            size_t run = k - start;
            if (rc == JSON_OK && o + run <= cap) memcpy(out + o, s + start, run);
            else rc = JSON_ETOOMANY;
            o += run;
            continue;
        }
        char buf[4];
        int m = next_piece(s, n, &k, buf);
        if (m < 0) return JSON_EINVAL;
        if (rc == JSON_OK && o + (size_t)m <= cap) memcpy(out + o, buf, (size_t)m);
        else rc = JSON_ETOOMANY;
        o += (size_t)m;
    }
    if (rc == JSON_OK && out_len) *out_len = o;
    return rc;
}

bool json_str_eq(const json_doc *d, int i, const char *lit)
{
    if (!json_is_string(d, i)) return false;
    const char *s = json_raw(d, i);
    size_t n = json_raw_len(d, i), k = 0, llen = strlen(lit), o = 0;
    while (k < n) {
        char buf[4];
        int m = next_piece(s, n, &k, buf);
        if (m < 0 || o + (size_t)m > llen || memcmp(lit + o, buf, (size_t)m)) return false;
        o += (size_t)m;
    }
    return o == llen;
}

/* ---------------------------------------------------------------- writer */

void jw_init(jw *w, size_t reserve)
{
    w->len = 0;
    w->oom = false;
    w->cap = reserve;
    w->buf = reserve ? malloc(reserve) : NULL;
    if (reserve && !w->buf) { w->cap = 0; w->oom = true; }
}

void jw_free(jw *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static bool jw_grow(jw *w, size_t add)
{
    if (w->oom) return false;
    if (w->cap - w->len >= add) return true;
    if (add > SIZE_MAX / 2 - w->len) { w->oom = true; return false; }
    size_t need = w->len + add, nc = w->cap ? w->cap : 64;
    while (nc < need) nc *= 2;
    char *nb = realloc(w->buf, nc);
    if (!nb) { w->oom = true; return false; }
    w->buf = nb;
    w->cap = nc;
    return true;
}

bool jw_grow_slow(jw *w, size_t add) { return jw_grow(w, add); }

void jw_uint(jw *w, uint64_t v)
{
    /* two digits per division: every message has revisions and ms timestamps in it */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[24];
    int k = sizeof tmp;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        tmp[--k] = pairs[d + 1];
        tmp[--k] = pairs[d];
    }
    if (v >= 10) {
        tmp[--k] = pairs[v * 2 + 1];
        tmp[--k] = pairs[v * 2];
    } else {
        tmp[--k] = (char)('0' + v);
    }
    jw_raw(w, tmp + k, sizeof tmp - (size_t)k);
}

void jw_int(jw *w, int64_t v)
{
    if (v < 0) {
        jw_char(w, '-');
        jw_uint(w, (uint64_t)0 - (uint64_t)v);
    } else {
        jw_uint(w, (uint64_t)v);
    }
}

/* Same escapes as JavaScript's JSON.stringify (lower-case hex), so output compares equal to
 * what ot.js and browsers produce. */
void jw_str(jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case every byte becomes \u00XX */
    if (n > (SIZE_MAX - 2) / 6) { w->oom = true; return; }
    if (!jw_grow(w, n + 2)) return;
    jw_char(w, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        jw_raw(w, s + start, i - start);
        start = i + 1;
        char esc[6] = { '\\', 0 };
        size_t el = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            el = 6;
        }
        jw_raw(w, esc, el);
    }
    jw_raw(w, s + start, n - start);
    jw_char(w, '"');
}
