/* outq.c: see outq.h. Size classes are chosen for what ringroom sends: acks and presence
 * (tens of bytes, several per 512 B buffer), chat and cursor bursts (4 KiB), joined
 * snapshots and echo of mid-size messages (32 KiB, 256 KiB). Bigger buffers come from
 * malloc and go back to it. Free lists are capped so a burst does not pin memory forever. */
#include "outq.h"

#include <stdlib.h>
#include <string.h>

static const uint32_t class_size[OBUF_CLASSES] = { 512, 4096, 32768, 262144 };
static const uint32_t class_keep[OBUF_CLASSES] = { 4096, 1024, 64, 8 };

void opool_init(struct opool *p) { memset(p, 0, sizeof *p); }

void opool_destroy(struct opool *p)
{
    while (p->free_segs) {
        struct oseg *s = p->free_segs;
        p->free_segs = s->next;
        free(s);
    }
    for (int c = 0; c < OBUF_CLASSES; c++) {
        while (p->free_bufs[c]) {
            struct obuf *b = p->free_bufs[c];
            memcpy(&p->free_bufs[c], b->data, sizeof(struct obuf *));
            free(b);
        }
        p->nfree_bufs[c] = 0;
    }
}

struct obuf *obuf_new(struct opool *p, size_t cap)
{
    if (cap > UINT32_MAX - sizeof(struct obuf)) return NULL;
    int cls = 0;
    while (cls < OBUF_CLASSES && class_size[cls] < cap) cls++;
    struct obuf *b;
    if (cls < OBUF_CLASSES && p->free_bufs[cls]) {
        b = p->free_bufs[cls];
        memcpy(&p->free_bufs[cls], b->data, sizeof(struct obuf *));   /* next link lives in data */
        p->nfree_bufs[cls]--;
    } else {
        size_t size = cls < OBUF_CLASSES ? class_size[cls] : cap;
        b = malloc(sizeof *b + size);
        if (!b) return NULL;
        p->bufs_allocated++;
        b->cap = (uint32_t)size;
        b->cls = cls < OBUF_CLASSES ? (uint8_t)cls : OBUF_HEAP;
    }
    b->refs = 1;
    b->len = 0;
    b->priv = 0;
    return b;
}

void obuf_unref(struct opool *p, struct obuf *b)
{
    if (--b->refs) return;
    if (b->cls != OBUF_HEAP && p->nfree_bufs[b->cls] < class_keep[b->cls]) {
        memcpy(b->data, &p->free_bufs[b->cls], sizeof(struct obuf *));
        p->free_bufs[b->cls] = b;
        p->nfree_bufs[b->cls]++;
        return;
    }
    free(b);
}

static struct oseg *seg_new(struct opool *p)
{
    struct oseg *s = p->free_segs;
    if (s) {
        p->free_segs = s->next;
    } else {
        s = malloc(sizeof *s);
        if (!s) return NULL;
        p->segs_allocated++;
    }
    s->next = NULL;
    return s;
}

static void seg_free(struct opool *p, struct oseg *s)
{
    obuf_unref(p, s->buf);
    s->next = p->free_segs;
    p->free_segs = s;
}

static void append_seg(struct outq *q, struct oseg *s)
{
    if (q->tail) q->tail->next = s;
    else q->head = s;
    q->tail = s;
    q->bytes += s->len;
    q->nsegs++;
}

bool outq_push(struct opool *p, struct outq *q, struct obuf *b, uint32_t off, uint32_t len)
{
    struct oseg *s = seg_new(p);
    if (!s) return false;
    obuf_ref(b);
    s->buf = b;
    s->off = off;
    s->len = len;
    append_seg(q, s);
    return true;
}

bool outq_write(struct opool *p, struct outq *q, const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen + blen;
    struct oseg *t = q->tail;
    /* Write into the tail buffer when it is this queue's private one and the data ends there.
     * The tail segment grows, unless it is in flight: then the bytes get a segment of their
     * own in the same buffer, so what the kernel was handed stays one droppable unit apart. */
    if (t && t->buf->priv && t->off + t->len == t->buf->len && t->buf->cap - t->buf->len >= n) {
        struct obuf *tb = t->buf;
        uint32_t at = tb->len;
        if (alen) memcpy(tb->data + at, a, alen);
        if (blen) memcpy(tb->data + at + alen, b, blen);
        tb->len += (uint32_t)n;
        if (q->inflight_segs < q->nsegs) {
            t->len += (uint32_t)n;
            q->bytes += n;
            return true;
        }
        if (outq_push(p, q, tb, at, (uint32_t)n)) return true;
        tb->len = at;
        return false;
    }
    struct obuf *buf = obuf_new(p, n);
    if (!buf) return false;
    buf->priv = 1;
    if (alen) memcpy(buf->data, a, alen);
    if (blen) memcpy(buf->data + alen, b, blen);
    buf->len = (uint32_t)n;
    bool ok = outq_push(p, q, buf, 0, (uint32_t)n);
    obuf_unref(p, buf);
    return ok;
}

int outq_iov(struct outq *q, struct iovec *iov, int max, size_t *bytes)
{
    int n = 0;
    size_t total = 0;
    for (struct oseg *s = q->head; s && n < max; s = s->next) {
        iov[n].iov_base = s->buf->data + s->off;
        iov[n].iov_len = s->len;
        total += s->len;
        n++;
    }
    q->inflight_segs = (uint16_t)n;
    *bytes = total;
    return n;
}

void outq_consume(struct opool *p, struct outq *q, size_t n)
{
    q->inflight_segs = 0;
    q->bytes -= n;
    while (n && q->head) {
        struct oseg *s = q->head;
        if (n < s->len) {
            s->off += (uint32_t)n;
            s->len -= (uint32_t)n;
            q->head_partial = true;
            return;
        }
        n -= s->len;
        q->head_partial = false;
        q->head = s->next;
        if (!q->head) q->tail = NULL;
        q->nsegs--;
        seg_free(p, s);
    }
}

void outq_drop_unsent(struct opool *p, struct outq *q)
{
    /* Keep what the kernel holds and a head that was partly sent: dropping either would cut
     * a frame in the middle of the byte stream. */
    uint16_t keep_n = q->inflight_segs ? q->inflight_segs : (q->head_partial ? 1 : 0);
    struct oseg *keep = NULL, *s = q->head;
    for (uint16_t i = 0; i < keep_n && s; i++) {
        keep = s;
        s = s->next;
    }
    if (keep) keep->next = NULL;
    else q->head = NULL;
    q->tail = keep;
    while (s) {
        struct oseg *next = s->next;
        q->bytes -= s->len;
        q->nsegs--;
        seg_free(p, s);
        s = next;
    }
}

void outq_free(struct opool *p, struct outq *q)
{
    struct oseg *s = q->head;
    while (s) {
        struct oseg *next = s->next;
        seg_free(p, s);
        s = next;
    }
    memset(q, 0, sizeof *q);
}
