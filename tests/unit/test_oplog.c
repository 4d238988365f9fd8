/* test_oplog.c: the op log's record framing and recovery (src/store/record.c, recovery.c):
 * CRC32C against its reference vector, encode/scan round trips, torn tails cut at every byte,
 * zero tails, corruption in the middle refused (and cut with --recover-truncate), revision
 * gaps refused, end-to-end recovery of a data dir into documents, history and chat, and the
 * data-dir lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "shard.h"
#include "store/record.h"
#include "store/store.h"

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(store_crc32c(0, "123456789", 9), 0xE3069283u);   /* RFC 3720 check value */
    assert_int_equal(store_crc32c(0, "", 0), 0);
    /* incremental = one shot */
    uint32_t a = store_crc32c(0, "1234", 4);
    assert_int_equal(store_crc32c(a, "56789", 5), 0xE3069283u);
    uint8_t zeros[32] = { 0 };
    assert_int_equal(store_crc32c(0, zeros, 32), 0x8A9136AAu);          /* RFC 3720 B.4 */
}

struct seen { int n; uint8_t types[16]; size_t offs[16]; };

static void on_rec(void *arg, const uint8_t *p, size_t len, size_t off)
{
    struct seen *s = arg;
    assert_true(len >= 1);
    if (s->n < 16) {
        s->types[s->n] = p[0];
        s->offs[s->n] = off;
    }
    s->n++;
}

/* three records: op, snapshot, chat; bounds[i] = end of record i */
static void three(struct store_buf *b, size_t bounds[3])
{
    memset(b, 0, sizeof *b);
    assert_true(store_encode_op(b, "room", 4, 1, 1700000000000ull, "0-1", 3, "[\"hello\"]", 9));
    bounds[0] = b->len;
    assert_true(store_encode_snapshot(b, "room", 4, 1, 0, "hello", 5));
    bounds[1] = b->len;
    assert_true(store_encode_chat(b, "room", 4, 1, 1700000000001ull, "{\"type\":\"chat\"}", 15));
    bounds[2] = b->len;
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[3], valid, n;
    three(&b, bounds);
    struct seen s = { 0 };
    const char *why;
    assert_int_equal(store_scan(b.p, b.len, &valid, &n, &why, on_rec, &s), STORE_SCAN_OK);
    assert_int_equal(valid, b.len);
    assert_int_equal(n, 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.types[0], STORE_REC_OP);
    assert_int_equal(s.types[1], STORE_REC_SNAPSHOT);
    assert_int_equal(s.types[2], STORE_REC_CHAT);
    assert_int_equal(s.offs[1], bounds[0]);
    /* header: length, then its CRC, then the payload's CRC */
    uint32_t len = (uint32_t)b.p[0] | (uint32_t)b.p[1] << 8 | (uint32_t)b.p[2] << 16 | (uint32_t)b.p[3] << 24;
    assert_int_equal(len + STORE_HDR, bounds[0]);
    store_buf_free(&b);
}

static void test_torn_tail_every_byte(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[3];
    three(&b, bounds);
    for (size_t cut = 0; cut <= b.len; cut++) {
        size_t valid, n, expect = 0;
        const char *why;
        for (int i = 0; i < 3; i++)
            if (bounds[i] <= cut) expect = bounds[i];
        enum store_scan r = store_scan(b.p, cut, &valid, &n, &why, NULL, NULL);
        assert_int_equal(valid, expect);
        assert_int_equal(r, cut == expect ? STORE_SCAN_OK : STORE_SCAN_TORN);
    }
    store_buf_free(&b);
}

static void test_zero_tail(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[3], valid, n;
    three(&b, bounds);
    uint8_t *p = calloc(1, b.len + 4096);
    memcpy(p, b.p, b.len);
    const char *why;
    assert_int_equal(store_scan(p, b.len + 4096, &valid, &n, &why, NULL, NULL), STORE_SCAN_TORN);
    assert_int_equal(valid, b.len);
    assert_int_equal(n, 3);
    free(p);
    store_buf_free(&b);
}

static void test_corruption(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[3], valid, n;
    const char *why;
    three(&b, bounds);
    /* every byte of the first two records: a flip is corruption in the middle */
    for (size_t i = 0; i < bounds[1]; i++) {
        b.p[i] ^= 0x40;
        enum store_scan r = store_scan(b.p, b.len, &valid, &n, &why, NULL, NULL);
        assert_int_equal(r, STORE_SCAN_CORRUPT);
        assert_int_equal(valid, i < bounds[0] ? 0 : bounds[0]);
        assert_non_null(why);
        b.p[i] ^= 0x40;
    }
    /* in the payload of the last record: a corrupt last record, cut like a torn one */
    b.p[bounds[2] - 1] ^= 1;
    assert_int_equal(store_scan(b.p, b.len, &valid, &n, &why, NULL, NULL), STORE_SCAN_TORN);
    assert_int_equal(valid, bounds[1]);
    store_buf_free(&b);
}

/* ---- on disk ---- */

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ringroom-oplog-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_seg(const char *name, const struct store_buf *b, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b->p, len), (ssize_t)len);
    close(fd);
}

static off_t seg_size(const char *name)
{
    char path[128];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) ? -1 : sb.st_size;
}

static struct config cfg_for(bool recover)
{
    struct config c;
    config_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", dir);
    c.recover_truncate = recover;
    return c;
}

static struct store_room *find(struct store *st, const char *name, uint32_t ncores)
{
    return store_room_get(store_core_of(st, shard_owner(name, strlen(name), ncores)), name, strlen(name), false);
}

/* ops "x", [1,"y"], [2,"z"] for room a, one chat; bounds as in three() */
static void abc(struct store_buf *b, size_t bounds[4])
{
    memset(b, 0, sizeof *b);
    assert_true(store_encode_op(b, "a", 1, 1, 10, "0-1", 3, "[\"x\"]", 5));
    bounds[0] = b->len;
    assert_true(store_encode_op(b, "a", 1, 2, 11, "0-2", 3, "[1,\"y\"]", 7));
    bounds[1] = b->len;
    assert_true(store_encode_chat(b, "a", 1, 7, 12, "{\"type\":\"chat\",\"seq\":7}", 23));
    bounds[2] = b->len;
    assert_true(store_encode_op(b, "a", 1, 3, 13, "0-1", 3, "[2,\"z\"]", 7));
    bounds[3] = b->len;
}

static void test_recover_rooms(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[4];
    abc(&b, bounds);
    write_seg("seg-0000000000000001.log", &b, b.len);
    /* a second segment, as if another core (or another run) wrote room b */
    struct store_buf b2 = { 0 };
    assert_true(store_encode_snapshot(&b2, "b", 1, 5, 0, "snap", 4));
    assert_true(store_encode_op(&b2, "b", 1, 6, 20, "1-1", 3, "[4,\"!\"]", 7));
    write_seg("seg-0000000000000002.log", &b2, b2.len);
    struct config c = cfg_for(false);
    struct store *st;
    char err[512];
    for (uint32_t ncores = 1; ncores <= 3; ncores++) {     /* any thread count reads it all */
        assert_int_equal(store_open(&st, &c, ncores, err, sizeof err), STORE_OPEN_OK);
        struct store_room *a = find(st, "a", ncores), *rb = find(st, "b", ncores);
        assert_non_null(a);
        assert_non_null(rb);
        const ot_text *t = doc_text(store_room_doc(a));
        assert_int_equal(doc_rev(store_room_doc(a)), 3);
        assert_memory_equal(t->utf8, "xyz", 3);
        assert_int_equal(store_room_durable_rev(a), 3);
        assert_int_equal(store_room_oldest_op(a), 1);
        const struct store_op *o = store_room_op(a, 2);
        assert_non_null(o);
        assert_int_equal(o->ts, 11);
        assert_memory_equal(o->op, "[1,\"y\"]", 7);
        assert_int_equal(store_room_chat_count(a), 1);
        assert_int_equal(store_room_chat_seq(a), 7);
        t = doc_text(store_room_doc(rb));
        assert_int_equal(doc_rev(store_room_doc(rb)), 6);
        assert_memory_equal(t->utf8, "snap!", 5);
        assert_null(store_room_op(rb, 5));          /* before the snapshot: not in the log */
        store_close(st);
    }
    store_buf_free(&b);
    store_buf_free(&b2);
    teardown_dir(NULL);
    setup_dir(NULL);
}

/* op records with the optional cid/cseq tail next to old ones without it: recovery reads both
 * and rebuilds the cid table (highest cseq per cid and its revision) */
/* Element winners come back as the last-writer-wins maximum whatever order the segments hold
 * them in (a room's records may sit in another core's older segments); an element-only room
 * is a room. */
static void test_recover_elements(void **state)
{
    (void)state;
    struct store_buf b1 = { 0 }, b2 = { 0 };
    assert_true(store_encode_element(&b2, "e", 1, "x", 1, 1, 9, "{\"v\":1}", 7));
    assert_true(store_encode_element(&b1, "e", 1, "x", 1, 3, 0, "{\"v\":3}", 7));   /* the winner */
    assert_true(store_encode_element(&b2, "e", 1, "x", 1, 3, 4, "{\"v\":4}", 7));   /* tie, higher nonce */
    assert_true(store_encode_element(&b2, "e", 1, "y", 1, -1, 0, "{\"v\":5}", 7));
    write_seg("seg-0000000000000001.log", &b1, b1.len);
    write_seg("seg-0000000000000002.log", &b2, b2.len);
    struct config c = cfg_for(false);
    struct store *st;
    char err[512];
    assert_int_equal(store_open(&st, &c, 2, err, sizeof err), STORE_OPEN_OK);
    struct store_room *e = find(st, "e", 2);
    assert_non_null(e);
    int seen = 0;
    for (uint32_t i = 0; i < store_room_element_slots(e); i++) {
        size_t len;
        const char *j = store_room_element(e, i, &len);
        if (!j) continue;
        seen++;
        assert_int_equal(len, 7);
        assert_true(!memcmp(j, "{\"v\":3}", 7) || !memcmp(j, "{\"v\":5}", 7));
    }
    assert_int_equal(seen, 2);
    assert_int_equal(doc_rev(store_room_doc(e)), 0);
    /* the merge rule itself: lower version loses, equal version loses unless a lower nonce */
    struct store_core *sc = store_core_of(st, shard_owner("e", 1, 2));
    assert_int_equal(store_element_put(sc, e, "x", 1, 2, -100, "{}", 2, 10), STORE_ELEMENT_LOST);
    assert_int_equal(store_element_put(sc, e, "x", 1, 3, 0, "{}", 2, 10), STORE_ELEMENT_LOST);
    assert_int_equal(store_element_put(sc, e, "x", 1, 3, -1, "{}", 2, 10), STORE_ELEMENT_WON);
    assert_int_equal(store_element_put(sc, e, "z", 1, 0, 0, "{}", 2, 2), STORE_ELEMENT_FULL);
    store_close(st);
    store_buf_free(&b1);
    store_buf_free(&b2);
    teardown_dir(NULL);
    setup_dir(NULL);
}

static void test_recover_cid(void **state)
{
    (void)state;
    struct store_buf b = { 0 };
    assert_true(store_encode_op(&b, "c", 1, 1, 10, "0-1", 3, "[\"x\"]", 5));
    size_t old_len = b.len;
    assert_true(store_encode_op_cid(&b, "c", 1, 2, 11, "0-1", 3, "[1,\"y\"]", 7, "tab", 3, 5));
    assert_int_equal(b.len - old_len, old_len + 7 - 5 + 1 + 3 + 8);   /* + str8 cid + u64 cseq */
    assert_true(store_encode_op_cid(&b, "c", 1, 3, 12, "0-1", 3, "[2,\"z\"]", 7, "tab", 3, 4));
    assert_true(store_encode_op_cid(&b, "c", 1, 4, 13, "0-2", 3, "[3,\"w\"]", 7, "other", 5, 0));
    assert_false(store_encode_op_cid(&b, "c", 1, 5, 13, "0-2", 3, "[4,\"v\"]", 7,
                                     "0123456789012345678901234567890123456789012345678901234567890123X", 65, 0));
    write_seg("seg-0000000000000001.log", &b, b.len);
    struct config c = cfg_for(false);
    struct store *st;
    char err[512];
    assert_int_equal(store_open(&st, &c, 2, err, sizeof err), STORE_OPEN_OK);
    struct store_room *r = find(st, "c", 2);
    assert_non_null(r);
    assert_int_equal(doc_rev(store_room_doc(r)), 4);
    assert_memory_equal(doc_text(store_room_doc(r))->utf8, "xyzw", 4);
    uint64_t cseq = 99, rev = 99;
    assert_true(store_room_cid(r, "tab", 3, &cseq, &rev));
    assert_int_equal(cseq, 5);                      /* the highest, not the latest */
    assert_int_equal(rev, 2);
    assert_true(store_room_cid(r, "other", 5, &cseq, &rev));
    assert_int_equal(cseq, 0);
    assert_int_equal(rev, 4);
    assert_false(store_room_cid(r, "ta", 2, &cseq, &rev));
    store_close(st);
    store_buf_free(&b);
    teardown_dir(NULL);
    setup_dir(NULL);
}

static void test_recover_torn(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[4];
    abc(&b, bounds);
    write_seg("seg-0000000000000001.log", &b, bounds[3] - 3);    /* the last op cut short */
    struct config c = cfg_for(false);
    struct store *st;
    char err[512];
    assert_int_equal(store_open(&st, &c, 2, err, sizeof err), STORE_OPEN_OK);
    struct store_room *a = find(st, "a", 2);
    assert_non_null(a);
    assert_int_equal(doc_rev(store_room_doc(a)), 2);
    store_close(st);
    assert_int_equal(seg_size("seg-0000000000000001.log"), (off_t)bounds[2]);   /* truncated on disk */
    store_buf_free(&b);
    teardown_dir(NULL);
    setup_dir(NULL);
}

static void test_recover_corrupt(void **state)
{
    (void)state;
    struct store_buf b;
    size_t bounds[4];
    abc(&b, bounds);
    b.p[bounds[0] + STORE_HDR + 3] ^= 0x01;                     /* inside op 2's payload */
    write_seg("seg-0000000000000001.log", &b, b.len);
    struct config c = cfg_for(false);
    struct store *st;
    char err[512] = "";
    assert_int_equal(store_open(&st, &c, 2, err, sizeof err), STORE_OPEN_CORRUPT);
    assert_null(st);
    assert_non_null(strstr(err, "corrupt"));
    assert_non_null(strstr(err, "--recover-truncate"));
    assert_int_equal(seg_size("seg-0000000000000001.log"), (off_t)b.len);   /* untouched */
    c = cfg_for(true);
    assert_int_equal(store_open(&st, &c, 2, err, sizeof err), STORE_OPEN_OK);
    struct store_room *a = find(st, "a", 2);
    assert_non_null(a);
    assert_int_equal(doc_rev(store_room_doc(a)), 1);
    store_close(st);
    assert_int_equal(seg_size("seg-0000000000000001.log"), (off_t)bounds[0]);
    store_buf_free(&b);
    teardown_dir(NULL);
    setup_dir(NULL);
}

static void test_recover_gap(void **state)
{
    (void)state;
    struct store_buf b = { 0 };
    assert_true(store_encode_op(&b, "g", 1, 1, 10, "0-1", 3, "[\"x\"]", 5));
    assert_true(store_encode_op(&b, "g", 1, 3, 10, "0-1", 3, "[2,\"x\"]", 7));
    write_seg("seg-0000000000000001.log", &b, b.len);
    struct config c = cfg_for(false);
    struct store *st;
    char err[512] = "";
    assert_int_equal(store_open(&st, &c, 1, err, sizeof err), STORE_OPEN_CORRUPT);
    assert_non_null(strstr(err, "missing"));
    c = cfg_for(true);
    assert_int_equal(store_open(&st, &c, 1, err, sizeof err), STORE_OPEN_OK);
    assert_int_equal(doc_rev(store_room_doc(find(st, "g", 1))), 1);
    store_close(st);
    store_buf_free(&b);
    teardown_dir(NULL);
    setup_dir(NULL);
}

static void test_lock(void **state)
{
    (void)state;
    struct config c = cfg_for(false);
    struct store *st, *st2;
    char err[512] = "";
    assert_int_equal(store_open(&st, &c, 1, err, sizeof err), STORE_OPEN_OK);
    assert_int_equal(store_open(&st2, &c, 1, err, sizeof err), STORE_OPEN_FAILED);
    assert_non_null(strstr(err, "in use"));
    store_close(st);
    assert_int_equal(store_open(&st2, &c, 1, err, sizeof err), STORE_OPEN_OK);
    store_close(st2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_torn_tail_every_byte),
        cmocka_unit_test(test_zero_tail),
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_recover_rooms),
        cmocka_unit_test(test_recover_elements),
        cmocka_unit_test(test_recover_cid),
        cmocka_unit_test(test_recover_torn),
        cmocka_unit_test(test_recover_corrupt),
        cmocka_unit_test(test_recover_gap),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
