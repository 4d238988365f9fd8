/* test_outq.c: the output queue: appends share the tail buffer, shared buffers are
 * refcounted, partial sends resume at the right byte, unsent data can be dropped without
 * touching what is in flight, and the pool recycles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outq.h"

static size_t gather(struct outq *q, char *out, size_t cap)
{
    struct iovec iov[64];
    size_t bytes, off = 0;
    int n = outq_iov(q, iov, 64, &bytes);
    for (int i = 0; i < n && off < cap; i++) {
        memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    assert_int_equal(off, bytes);
    return off;
}

static void test_append_and_consume(void **state)
{
    (void)state;
    struct opool p;
    opool_init(&p);
    struct outq q = { 0 };
    assert_true(outq_write(&p, &q, "ab", 2, "cd", 2));
    assert_true(outq_write(&p, &q, "ef", 2, NULL, 0));
    assert_ptr_equal(q.head, q.tail);                    /* both in one tail buffer */
    assert_int_equal(q.bytes, 6);
    char buf[64];
    assert_int_equal(gather(&q, buf, sizeof buf), 6);
    assert_memory_equal(buf, "abcdef", 6);
    /* appending while a send is in flight keeps the sent bytes stable */
    assert_true(outq_write(&p, &q, "gh", 2, NULL, 0));
    outq_consume(&p, &q, 4);                             /* partial send */
    assert_int_equal(q.bytes, 4);
    assert_int_equal(gather(&q, buf, sizeof buf), 4);
    assert_memory_equal(buf, "efgh", 4);
    outq_consume(&p, &q, 4);
    assert_true(outq_empty(&q));
    assert_int_equal(q.bytes, 0);
    outq_free(&p, &q);
    opool_destroy(&p);
}

static void test_shared_buffers(void **state)
{
    (void)state;
    struct opool p;
    opool_init(&p);
    struct outq a = { 0 }, b = { 0 };
    struct obuf *frame = obuf_new(&p, 10);
    memcpy(frame->data, "broadcast!", 10);
    frame->len = 10;
    assert_true(outq_push(&p, &a, frame, 0, 10));
    assert_true(outq_push(&p, &b, frame, 0, 10));
    assert_int_equal(frame->refs, 3);
    obuf_unref(&p, frame);
    /* a private write after a shared segment must not append into the shared buffer */
    assert_true(outq_write(&p, &a, "x", 1, NULL, 0));
    assert_ptr_not_equal(a.head, a.tail);
    char buf[64];
    assert_int_equal(gather(&b, buf, sizeof buf), 10);
    assert_memory_equal(buf, "broadcast!", 10);
    outq_consume(&p, &b, 10);
    assert_int_equal(frame->refs, 1);
    assert_int_equal(gather(&a, buf, sizeof buf), 11);
    assert_memory_equal(buf, "broadcast!x", 11);
    outq_free(&p, &a);
    outq_free(&p, &b);
    opool_destroy(&p);
}

static void test_drop_unsent_keeps_inflight(void **state)
{
    (void)state;
    struct opool p;
    opool_init(&p);
    struct outq q = { 0 };
    char big[5000];
    memset(big, 'z', sizeof big);
    assert_true(outq_write(&p, &q, big, sizeof big, NULL, 0));   /* own buffer (4 KiB class is too small) */
    struct iovec iov[8];
    size_t bytes;
    assert_int_equal(outq_iov(&q, iov, 8, &bytes), 1);           /* in flight */
    assert_true(outq_write(&p, &q, big, 100, NULL, 0));
    assert_true(outq_write(&p, &q, big, 4000, NULL, 0));
    assert_int_equal(q.nsegs, 2);                                /* in flight + one new, same buffer */
    assert_int_equal(q.tail->len, 4100);
    assert_ptr_equal(q.head->buf, q.tail->buf);
    outq_drop_unsent(&p, &q);
    assert_ptr_equal(q.head, q.tail);
    assert_int_equal(q.bytes, 5000);
    outq_consume(&p, &q, 5000);
    assert_true(outq_empty(&q));
    outq_free(&p, &q);
    opool_destroy(&p);
}

/* A send that wrote part of the head segment and completed: the rest of that segment must
 * survive a drop, or the peer would get half a frame followed by the next one. */
static void test_drop_unsent_keeps_partly_sent_head(void **state)
{
    (void)state;
    struct opool p;
    opool_init(&p);
    struct outq q = { 0 };
    char big[5000];
    memset(big, 'y', sizeof big);
    assert_true(outq_write(&p, &q, big, sizeof big, NULL, 0));
    struct iovec iov[8];
    size_t bytes;
    assert_int_equal(outq_iov(&q, iov, 8, &bytes), 1);
    outq_consume(&p, &q, 1200);                                  /* short send */
    assert_true(outq_write(&p, &q, big, 300, NULL, 0));          /* another frame behind it */
    outq_drop_unsent(&p, &q);                                    /* slow reader being closed */
    assert_int_equal(q.bytes, 4100);     /* the head segment: the rest of frame 1 and frame 2, appended to it */
    assert_int_equal(q.nsegs, 1);
    outq_consume(&p, &q, 4100);
    assert_true(outq_empty(&q));
    assert_false(q.head_partial);
    outq_free(&p, &q);
    opool_destroy(&p);
}

static void test_pool_recycles(void **state)
{
    (void)state;
    struct opool p;
    opool_init(&p);
    for (int round = 0; round < 100; round++) {
        struct outq q = { 0 };
        for (int i = 0; i < 10; i++) assert_true(outq_write(&p, &q, "0123456789", 10, NULL, 0));
        struct obuf *b = obuf_new(&p, 300000);                   /* heap class */
        b->len = 1;
        assert_true(outq_push(&p, &q, b, 0, 1));
        obuf_unref(&p, b);
        outq_consume(&p, &q, (size_t)q.bytes);
        outq_free(&p, &q);
    }
    assert_true(p.segs_allocated <= 4);
    assert_true(p.bufs_allocated <= 102);                        /* heap buffers are not pooled */
    opool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_shared_buffers),
        cmocka_unit_test(test_drop_unsent_keeps_inflight),
        cmocka_unit_test(test_drop_unsent_keeps_partly_sent_head),
        cmocka_unit_test(test_pool_recycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
