/* doc.h: one collaborative document: its text, its revision and a bounded window of past
 * ops, with ot.js Server.receiveOperation semantics.
 *
 * Ownership: a doc owns its text, its history ring (ot_ops whose memory is reused as the
 * ring turns) and its scratch ops/text; nothing is allocated per op once the buffers have
 * grown to the working size. Revision r is the document after r ops (a doc can start at
 * any revision, e.g. when loaded from storage); the history holds the ops that turned
 * revisions doc_oldest_rev()..doc_rev()-1 into the next one, at most `window` of them.
 * Not thread-safe: a doc belongs to the core that owns its room.
 */
#ifndef RINGROOM_DOC_H
#define RINGROOM_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "ot.h"

typedef struct doc doc;

enum { DOC_OK = 0, DOC_EBADOP = -1, DOC_EREV_FUTURE = -2, DOC_EREV_TOO_OLD = -3, DOC_ETOOBIG = -4, DOC_ENOMEM = -5 };

/* A document holding utf8[0..bytes) (valid UTF-8) at revision rev, keeping the last
 * `window` ops, refusing results larger than max_bytes UTF-8 bytes. NULL on ENOMEM. */
doc *doc_new(const char *utf8, size_t bytes, uint64_t rev, uint32_t window, size_t max_bytes);
void doc_free(doc *d);

/* ot.js Server.receiveOperation(rev, op): transforms op against the history ops rev ..
 * doc_rev()-1 (op wins insert ties), applies it, appends it to the history (dropping the
 * oldest beyond the window) and increments the revision. On success *op holds the op
 * actually applied (the server op to broadcast; its revision is doc_rev() - 1 after the
 * call). Errors change neither the doc nor *op:
 *   DOC_EREV_FUTURE   rev < 0 or rev > doc_rev()
 *   DOC_EREV_TOO_OLD  rev < doc_oldest_rev() (out of the history window)
 *   DOC_EBADOP        base length mismatch (after transforming), a surrogate pair split
 *   DOC_ETOOBIG       the result would exceed max_bytes
 *   DOC_ENOMEM */
int doc_receive(doc *d, int64_t rev, ot_op *op);

/* The first half of doc_receive, for a document whose next revision is decided elsewhere
 * (--redis: the op is committed in Redis first, then applied by doc_receive at the new head):
 * transforms op against the history ops rev .. doc_rev()-1 and checks that it applies to the
 * current text and keeps it under max_bytes, without changing the doc. Same errors. */
int doc_rebase(doc *d, int64_t rev, ot_op *op);
uint64_t doc_rev(const doc *d);
uint64_t doc_oldest_rev(const doc *d);         /* smallest rev doc_receive still accepts */
const ot_text *doc_text(const doc *d);
/* The op that turned revision rev into rev+1, or NULL if rev is outside
 * [doc_oldest_rev(), doc_rev()). Valid until the next doc_receive. */
const ot_op *doc_history_op(const doc *d, uint64_t rev);

#endif
