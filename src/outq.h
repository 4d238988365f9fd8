/* outq.h: a connection's bounded output queue, and the per-core buffer pool behind it.
 *
 * Bytes to send live in obufs: refcounted, so a room frame encoded once can sit in many
 * queues. A queue is a list of segments (buffer, offset, length); every segment holds whole
 * WebSocket frames or whole HTTP responses, so dropping unsent segments never cuts a frame.
 * Small writes append to the queue's private tail buffer. At most one send is in flight:
 * outq_iov() hands the queued bytes to the kernel as an iovec, outq_consume() releases
 * what it reports sent. The pool (one per core, never shared) recycles segments and buffers
 * of a few size classes so the message path does not call malloc.
 */
#ifndef RINGROOM_OUTQ_H
#define RINGROOM_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct obuf {
    uint32_t refs;
    uint32_t len;                 /* bytes written */
    uint32_t cap;
    uint8_t cls;                  /* size class, or OBUF_HEAP */
    uint8_t priv;                 /* written by one queue's outq_write only: it may append */
    uint8_t data[];
};

struct oseg {
    struct oseg *next;
    struct obuf *buf;
    uint32_t off, len;
};

struct outq {
    struct oseg *head, *tail;
    uint64_t bytes;               /* queued, including what is in flight */
    uint32_t nsegs;
    uint16_t inflight_segs;       /* segments handed to the current send */
    bool head_partial;            /* the head segment was partly sent: it can no longer be dropped */
};

#define OBUF_CLASSES 4
#define OBUF_HEAP 0xFF

struct opool {
    struct oseg *free_segs;
    struct obuf *free_bufs[OBUF_CLASSES];
    uint32_t nfree_bufs[OBUF_CLASSES];
    uint64_t segs_allocated, bufs_allocated;   /* from malloc, for tests and metrics */
};

void opool_init(struct opool *p);
void opool_destroy(struct opool *p);

/* A buffer with room for `cap` bytes, refs = 1; NULL when out of memory. */
struct obuf *obuf_new(struct opool *p, size_t cap);
static inline void obuf_ref(struct obuf *b) { b->refs++; }
void obuf_unref(struct opool *p, struct obuf *b);

/* Queues b->data[off..off+len) (takes its own reference). False when out of memory. */
bool outq_push(struct opool *p, struct outq *q, struct obuf *b, uint32_t off, uint32_t len);

/* Copies a[0..alen) then b[0..blen) into the queue as one contiguous piece (a frame header
 * and its payload): appended to the private tail buffer when it fits. False on OOM. */
bool outq_write(struct opool *p, struct outq *q, const void *a, size_t alen, const void *b, size_t blen);

/* Fills up to `max` iovecs from the head and marks those segments in flight. Returns the
 * number of iovecs (0 if empty) and the byte total in *bytes. */
int outq_iov(struct outq *q, struct iovec *iov, int max, size_t *bytes);

/* The in-flight send reported `n` bytes sent: releases them; clears the in-flight mark. */
void outq_consume(struct opool *p, struct outq *q, size_t n);

/* Drops every segment not in flight (a slow reader being closed). */
void outq_drop_unsent(struct opool *p, struct outq *q);

/* Releases everything (the connection is gone). */
void outq_free(struct opool *p, struct outq *q);

static inline bool outq_empty(const struct outq *q) { return q->head == NULL; }

#endif
