/* ot.h: ot.js (0.0.15) TextOperation over UTF-8 text, counted in UTF-16 code units.
 *
 * An op is a list of components: retain n, insert text, delete n (n in UTF-16 code units,
 * exactly JavaScript's String.length), always kept in ot.js's canonical form: no empty
 * components, no two adjacent components of the same type, an insert before an adjacent
 * delete. The builders (ot_op_retain/insert/delete) follow ot.js's retain/insert/delete
 * line for line, so compose and transform give byte-identical JSON to ot.js.
 *
 * Ownership: an ot_op owns its comps array and its text buffer (all insert text, UTF-8,
 * concatenated in component order); an ot_text owns its utf8 buffer. Both grow and are
 * reused: clear/set keep memory, only *_free releases it. Outputs are caller-provided
 * structs (init them once, reuse them); an output must not alias an input.
 *
 * Stricter than ot.js (documents stay valid Unicode, lengths stay exact):
 * - ot_op_from_json accepts only an array of non-zero integers (|n| <= 2^53; a number
 *   written 3.0 or 3e0 is the integer 3, as in JavaScript) and non-empty, valid UTF-8
 *   strings without lone surrogates; ot.js also takes floats, "" and non-arrays (the
 *   vectors' `odd` cases), and lone surrogates.
 * - a count, or an op's base or target length, above 2^53 is OT_EBADOP (no document is
 *   that long; JavaScript would lose precision).
 * - any op boundary (retain/delete in apply, a split of an insert in compose) that falls
 *   between the two halves of a surrogate pair is OT_EBADOP; ot.js would produce a lone
 *   surrogate.
 */
#ifndef RINGROOM_OT_H
#define RINGROOM_OT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

enum { OT_OK = 0, OT_EBADOP = -1, OT_ENOMEM = -2 };

/* Largest count or length accepted: 2^53, the largest integer JavaScript holds exactly. */
#define OT_MAX_LEN (UINT64_C(1) << 53)

enum ot_comp_type { OT_RETAIN = 0, OT_INSERT = 1, OT_DELETE = 2 };

struct ot_comp {
    uint64_t units;          /* UTF-16 code units retained, inserted or deleted (> 0) */
    size_t off, bytes;       /* insert only: text[off .. off + bytes) */
    uint8_t type;            /* enum ot_comp_type */
};

typedef struct ot_op {
    struct ot_comp *comps;
    uint32_t ncomps, cap;
    char *text;              /* all insert text, UTF-8, concatenated in component order */
    size_t text_len, text_cap;
    uint64_t base_len, target_len;   /* in UTF-16 code units */
} ot_op;

void ot_op_init(ot_op *op);
void ot_op_clear(ot_op *op);                       /* empty op; keeps memory */
void ot_op_free(ot_op *op);
int  ot_op_copy(ot_op *dst, const ot_op *src);     /* dst keeps/grows its memory */
void ot_op_swap(ot_op *a, ot_op *b);

/* Builders with ot.js semantics (0 / "" are ignored, adjacent same-type merged, insert
 * before delete). utf8 must be valid UTF-8 and not point into op->text. OT_EBADOP if a
 * length would exceed OT_MAX_LEN. */
int ot_op_retain(ot_op *op, uint64_t n);
int ot_op_insert(ot_op *op, const char *utf8, size_t bytes);
int ot_op_delete(ot_op *op, uint64_t n);

/* Token tok of d must be an array (see the strictness rules above). 0 or OT_EBADOP /
 * OT_ENOMEM; op is cleared first and left empty on error. Normalizes like fromJSON. */
int  ot_op_from_json(ot_op *op, const json_doc *d, int tok);
/* Convenience: parse JSON text (allocates a token array) then ot_op_from_json. */
int  ot_op_parse(ot_op *op, const char *json, size_t len);
/* Canonical JSON, byte-identical to JSON.stringify(op.toJSON()) in ot.js. */
void ot_op_to_json(const ot_op *op, jw *w);

typedef struct ot_text {
    char *utf8;              /* valid UTF-8, not NUL-terminated (may contain NUL) */
    size_t bytes;
    uint64_t units;          /* UTF-16 length */
    size_t cap;
} ot_text;

void ot_text_init(ot_text *t);
void ot_text_free(ot_text *t);
int  ot_text_set(ot_text *t, const char *utf8, size_t bytes);  /* copies; OT_EBADOP if not valid UTF-8 */
void ot_text_swap(ot_text *a, ot_text *b);

/* out = op applied to doc (out != doc). OT_EBADOP if op->base_len != doc->units or a
 * retain/delete boundary splits a surrogate pair; out is then unspecified. */
int ot_apply(const ot_op *op, const ot_text *doc, ot_text *out);

/* out = a then b. OT_EBADOP if a->target_len != b->base_len or an insert of a would be
 * split inside a surrogate pair. */
int ot_compose(const ot_op *a, const ot_op *b, ot_op *out);

/* ot.js TextOperation.transform(a, b) = [a_prime, b_prime]: apply(apply(d, a), b_prime) ==
 * apply(apply(d, b), a_prime). Ties: a's insert goes first. b_prime may be NULL when only
 * a_prime is wanted (the server case). OT_EBADOP if base lengths differ. */
int ot_transform(const ot_op *a, const ot_op *b, ot_op *a_prime, ot_op *b_prime);

#endif
