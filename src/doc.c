/* doc.c: see doc.h. The history is a ring of ot_ops that grows (doubling) up to `window`
 * entries and then turns, each slot keeping its buffers; transformation ping-pongs between
 * two scratch ops and the new text is built in a scratch text that is swapped in, so a
 * steady-state doc_receive allocates nothing. Every step that can fail runs before the first
 * change to the doc, which is what makes errors leave it untouched. */
#include "doc.h"

#include <stdlib.h>
#include <string.h>

struct doc {
    ot_text text, tmp;
    uint64_t rev;
    uint32_t window;
    size_t max_bytes;
    ot_op *ring;             /* rcap slots, all initialized; count used, oldest at head */
    uint32_t rcap, head, count;
    ot_op s1, s2, spare;
};

doc *doc_new(const char *utf8, size_t bytes, uint64_t rev, uint32_t window, size_t max_bytes)
{
    doc *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    ot_text_init(&d->text);
    ot_text_init(&d->tmp);
    ot_op_init(&d->s1);
    ot_op_init(&d->s2);
    ot_op_init(&d->spare);
    d->rev = rev;
    d->window = window;
    d->max_bytes = max_bytes;
    if (ot_text_set(&d->text, utf8, bytes) != OT_OK) {
        doc_free(d);
        return NULL;
    }
    return d;
}

void doc_free(doc *d)
{
    if (!d) return;
    for (uint32_t i = 0; i < d->rcap; i++) ot_op_free(&d->ring[i]);
    free(d->ring);
    ot_op_free(&d->s1);
    ot_op_free(&d->s2);
    ot_op_free(&d->spare);
    ot_text_free(&d->text);
    ot_text_free(&d->tmp);
    free(d);
}

uint64_t doc_rev(const doc *d) { return d->rev; }
uint64_t doc_oldest_rev(const doc *d) { return d->rev - d->count; }
const ot_text *doc_text(const doc *d) { return &d->text; }

const ot_op *doc_history_op(const doc *d, uint64_t rev)
{
    uint64_t oldest = doc_oldest_rev(d);
    if (rev < oldest || rev >= d->rev) return NULL;
    return &d->ring[(d->head + (rev - oldest)) % d->rcap];
}

/* Makes room for one more op while count < window. */
static int ring_grow(doc *d)
{
    if (d->count < d->rcap) return DOC_OK;
    uint32_t nc = d->rcap ? (d->rcap > UINT32_MAX / 2 ? UINT32_MAX : d->rcap * 2) : 16;
    if (nc > d->window) nc = d->window;
    ot_op *r = malloc((size_t)nc * sizeof *r);
    if (!r) return DOC_ENOMEM;
    for (uint32_t i = 0; i < d->count; i++) r[i] = d->ring[(d->head + i) % d->rcap];
    for (uint32_t i = d->count; i < nc; i++) ot_op_init(&r[i]);
    free(d->ring);
    d->ring = r;
    d->rcap = nc;
    d->head = 0;
    return DOC_OK;
}

static int map_ot(int rc) { return rc == OT_ENOMEM ? DOC_ENOMEM : DOC_EBADOP; }

int doc_rebase(doc *d, int64_t rev, ot_op *op)
{
    if (rev < 0 || (uint64_t)rev > d->rev) return DOC_EREV_FUTURE;
    if ((uint64_t)rev < doc_oldest_rev(d)) return DOC_EREV_TOO_OLD;
    ot_op *cur = op, *scratch[2] = { &d->s1, &d->s2 };
    int which = 0, rc;
    for (uint64_t r = (uint64_t)rev; r < d->rev; r++) {
        ot_op *dst = scratch[which];
        which ^= 1;
        rc = ot_transform(cur, doc_history_op(d, r), dst, NULL);
        if (rc) return map_ot(rc);
        cur = dst;
    }
    rc = ot_apply(cur, &d->text, &d->tmp);
    if (rc) return map_ot(rc);
    if (d->tmp.bytes > d->max_bytes) return DOC_ETOOBIG;
    if (cur != op) ot_op_swap(op, cur);
    return DOC_OK;
}

int doc_receive(doc *d, int64_t rev, ot_op *op)
{
    if (rev < 0 || (uint64_t)rev > d->rev) return DOC_EREV_FUTURE;
    if ((uint64_t)rev < doc_oldest_rev(d)) return DOC_EREV_TOO_OLD;
    ot_op *cur = op, *scratch[2] = { &d->s1, &d->s2 };
    int which = 0, rc;
    for (uint64_t r = (uint64_t)rev; r < d->rev; r++) {
        ot_op *dst = scratch[which];
        which ^= 1;
        rc = ot_transform(cur, doc_history_op(d, r), dst, NULL);
        if (rc) return map_ot(rc);
        cur = dst;
    }
    rc = ot_apply(cur, &d->text, &d->tmp);
    if (rc) return map_ot(rc);
    if (d->tmp.bytes > d->max_bytes) return DOC_ETOOBIG;
    if (d->window) {
        if (d->count < d->window && ring_grow(d)) return DOC_ENOMEM;
        if (ot_op_copy(&d->spare, cur)) return DOC_ENOMEM;
    }
    /* commit: nothing below can fail */
    ot_text_swap(&d->text, &d->tmp);
    if (cur != op) ot_op_swap(op, cur);
    if (d->window) {
        ot_op *slot;
        if (d->count == d->window) {
            slot = &d->ring[d->head];
            d->head = (d->head + 1) % d->rcap;
        } else {
            slot = &d->ring[(d->head + d->count) % d->rcap];
            d->count++;
        }
        ot_op_swap(slot, &d->spare);
    }
    d->rev++;
    return DOC_OK;
}
