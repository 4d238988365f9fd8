/* json.h: the one place JSON text is read and written.
 *
 * Reading: jsmn (Debian libjsmn-dev) tokenizes into a caller-provided token array with no
 * allocation; json_parse() adds what jsmn leaves out so the result is strict RFC 8259
 * (number grammar, literals, escapes, no raw control characters, exactly one top-level
 * value, nothing but whitespace after it). Tokens are then read with the helpers below.
 * Writing: jw is a growable byte buffer with correct string escaping; callers write the
 * punctuation themselves (fast, explicit, no tree). Input text is assumed valid UTF-8 (the
 * WebSocket layer has checked it).
 */
#ifndef RINGROOM_JSON_H
#define RINGROOM_JSON_H

#define JSMN_HEADER
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

typedef struct json_doc {
    const char *js;      /* the text (not owned) */
    size_t len;
    jsmntok_t *tok;      /* caller's token array */
    int ntok;            /* tokens used */
} json_doc;

enum json_err {
    JSON_OK = 0,
    JSON_EINVAL = -1,    /* not valid JSON */
    JSON_ETOOMANY = -2,  /* more tokens than the caller allowed */
};

/* Parses js[0..len) into toks[0..max_tok). On success d->tok[0] is the top-level value. */
int json_parse(json_doc *d, const char *js, size_t len, jsmntok_t *toks, int max_tok);

/* Token index just past the value that starts at token i (skips nested values). */
int json_next(const json_doc *d, int i);

/* In object token obj: token index of the value of `key`, or -1 (last one wins if
 * repeated). Keys are compared after unescaping. */
int json_obj_get(const json_doc *d, int obj, const char *key);

/* Type tests. */
bool json_is_object(const json_doc *d, int i);
bool json_is_array(const json_doc *d, int i);
bool json_is_string(const json_doc *d, int i);
bool json_is_null(const json_doc *d, int i);

/* A JSON number that is an integer written without fraction or exponent and fits in
 * int64_t. Returns false otherwise (1.0, 1e3, 9223372036854775808, "1"). */
bool json_get_int64(const json_doc *d, int i, int64_t *out);
bool json_get_bool(const json_doc *d, int i, bool *out);

/* Raw text of token i (strings: without quotes, still escaped). */
static inline const char *json_raw(const json_doc *d, int i) { return d->js + d->tok[i].start; }
static inline size_t json_raw_len(const json_doc *d, int i) { return (size_t)(d->tok[i].end - d->tok[i].start); }

/* Unescapes string token i into out[0..cap) as UTF-8 and sets *out_len. Surrogate pairs
 * written as two \u escapes are joined; a lone surrogate (escaped or not) is an error.
 * Returns JSON_OK, JSON_EINVAL (lone surrogate / not a string) or JSON_ETOOMANY (cap too
 * small). Output is never longer than the raw token, so cap = json_raw_len() suffices. */
int json_get_string(const json_doc *d, int i, char *out, size_t cap, size_t *out_len);

/* True if string token i equals lit after unescaping. */
bool json_str_eq(const json_doc *d, int i, const char *lit);

/* The writer. On allocation failure `oom` is set and later writes are dropped. */
typedef struct jw {
    char *buf;
    size_t len, cap;
    bool oom;
} jw;

void jw_init(jw *w, size_t reserve);
void jw_free(jw *w);
static inline void jw_reset(jw *w) { w->len = 0; w->oom = false; }
/* The appenders below are inline: a message is built from many small pieces. */
bool jw_grow_slow(jw *w, size_t add);          /* room for add more bytes; false (oom) if none */
static inline void jw_raw(jw *w, const char *s, size_t n)
{
    if (!n || (w->cap - w->len < n && !jw_grow_slow(w, n)) || w->oom) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}
static inline void jw_lit(jw *w, const char *s) { jw_raw(w, s, strlen(s)); }   /* strlen of a literal folds */
static inline void jw_char(jw *w, char c)
{
    if ((w->cap == w->len && !jw_grow_slow(w, 1)) || w->oom) return;
    w->buf[w->len++] = c;
}
void jw_int(jw *w, int64_t v);
void jw_uint(jw *w, uint64_t v);
/* A quoted JSON string from valid UTF-8 s[0..n): escapes ", \, and control characters
 * (\b \f \n \r \t, others as \u00XX); non-ASCII is written as UTF-8. */
void jw_str(jw *w, const char *s, size_t n);

#endif
