/* test_ws.c: RFC 6455 reader and writer (src/ws.c): frames of every length encoding, masks,
 * fragmentation with control frames in between, every byte split, each protocol error with
 * its close code, close payload rules, and the handshake key from RFC 6455 section 1.3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws.h"

static const struct ws_limits server_lim = { .max_frame = 1 << 20, .max_message = 1 << 21, .peer_masks = true };
static const uint8_t MASK[4] = { 0x12, 0x34, 0x56, 0x78 };

/* Builds a masked client frame into out; returns its length. */
static size_t client_frame(uint8_t *out, uint8_t first_byte, const void *payload, size_t len)
{
    size_t h = ws_frame_header(out, first_byte & 0x0F, first_byte & 0x80, len, MASK);
    out[0] = first_byte;                       /* keep RSV bits the test asked for */
    memcpy(out + h, payload, len);
    ws_mask(out + h, len, MASK, 0);
    return h + len;
}

/* Feeds buf in chunks of `step` bytes (0 = all at once) and collects the events. */
struct collected {
    int n;
    enum ws_event_type type[16];
    uint8_t opcode[16];
    uint16_t code[16];
    uint8_t data[16][512];
    size_t len[16];
};

static void feed(struct ws_reader *r, const struct ws_limits *lim, uint8_t *buf, size_t len, size_t step,
                 struct collected *out)
{
    size_t off = 0;
    while (off < len) {
        size_t chunk = step && step < len - off ? step : len - off;
        size_t done = 0;
        while (done < chunk) {
            size_t used;
            struct ws_event ev;
            ws_reader_next(r, lim, buf + off + done, chunk - done, &used, &ev);
            done += used;
            if (ev.type != WS_EV_NEED_MORE) {
                assert_true(out->n < 16);
                out->type[out->n] = ev.type;
                out->opcode[out->n] = ev.opcode;
                out->code[out->n] = ev.code;
                out->len[out->n] = ev.len;
                if (ev.data && ev.len <= sizeof out->data[0]) memcpy(out->data[out->n], ev.data, ev.len);
                out->n++;
                if (ev.type == WS_EV_ERROR) return;
            } else {
                assert_int_equal(used, chunk - (done - used));
            }
        }
        off += chunk;
    }
}

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    assert_true(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out));
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_key_rejects_bad_keys(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    assert_false(ws_accept_key("", 0, out));
    assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, out));          /* too short */
    assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", 25, out));        /* too long */
    assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", 24, out));         /* not base64 */
    assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", 24, out));         /* 18 bytes */
}

static void test_header_lengths(void **state)
{
    (void)state;
    uint8_t h[WS_MAX_HEADER];
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, 0, NULL), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0);
    assert_int_equal(ws_frame_header(h, WS_OP_TEXT, true, 125, NULL), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, false, 126, NULL), 4);
    assert_int_equal(h[0], 0x02);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 126);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, 65535, NULL), 4);
    assert_int_equal(ws_frame_header(h, WS_OP_BINARY, true, 65536, NULL), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1);
    assert_int_equal(ws_frame_header(h, WS_OP_PING, true, 3, MASK), 6);
    assert_int_equal(h[1], 0x83);
    assert_memory_equal(h + 2, MASK, 4);
}

static void test_mask_offsets(void **state)
{
    (void)state;
    uint8_t a[37], b[37];
    for (int i = 0; i < 37; i++) a[i] = b[i] = (uint8_t)(i * 7);
    ws_mask(a, 37, MASK, 0);
    for (int i = 0; i < 37; i++) assert_int_equal(a[i], (uint8_t)(b[i] ^ MASK[i & 3]));
    /* masking in two pieces with the right offset equals masking at once */
    for (int i = 0; i < 37; i++) a[i] = b[i];
    ws_mask(a, 5, MASK, 0);
    ws_mask(a + 5, 32, MASK, 5);
    for (int i = 0; i < 37; i++) assert_int_equal(a[i], (uint8_t)(b[i] ^ MASK[i & 3]));
}

static void test_single_text_every_split(void **state)
{
    (void)state;
    const char *msg = "Hello, wörld 😀";
    for (size_t step = 0; step <= 30; step++) {
        uint8_t buf[128];
        size_t n = client_frame(buf, 0x81, msg, strlen(msg));
        struct ws_reader r = { 0 };
        struct collected c = { 0 };
        feed(&r, &server_lim, buf, n, step, &c);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.type[0], WS_EV_MESSAGE);
        assert_int_equal(c.opcode[0], WS_OP_TEXT);
        assert_int_equal(c.len[0], strlen(msg));
        assert_memory_equal(c.data[0], msg, strlen(msg));
        assert_true(ws_reader_idle(&r));
        ws_reader_reset(&r);
    }
}

static void test_lengths_16_and_64_bit(void **state)
{
    (void)state;
    size_t sizes[] = { 0, 125, 126, 127, 65535, 65536, 100000 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t len = sizes[k];
        uint8_t *payload = malloc(len + 1), *buf = malloc(len + 14);
        for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)i;
        size_t n = client_frame(buf, 0x82, payload, len);
        struct ws_reader r = { 0 };
        size_t used;
        struct ws_event ev;
        ws_reader_next(&r, &server_lim, buf, n, &used, &ev);
        assert_int_equal(ev.type, WS_EV_MESSAGE);
        assert_int_equal(ev.opcode, WS_OP_BINARY);
        assert_int_equal(ev.len, len);
        assert_int_equal(used, n);
        if (len) assert_memory_equal(ev.data, payload, len);
        /* split in the middle of the payload: assembled copy */
        n = client_frame(buf, 0x82, payload, len);
        struct ws_reader r2 = { 0 };
        size_t half = n / 2;
        ws_reader_next(&r2, &server_lim, buf, half, &used, &ev);
        if (ev.type == WS_EV_NEED_MORE) {
            assert_int_equal(used, half);
            ws_reader_next(&r2, &server_lim, buf + half, n - half, &used, &ev);
        }
        assert_int_equal(ev.type, WS_EV_MESSAGE);
        assert_int_equal(ev.len, len);
        if (len) assert_memory_equal(ev.data, payload, len);
        ws_reader_reset(&r);
        ws_reader_reset(&r2);
        free(payload);
        free(buf);
    }
}

static void test_fragments_with_ping_between(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = 0;
    n += client_frame(buf + n, 0x01, "frag", 4);          /* text, FIN=0 */
    n += client_frame(buf + n, 0x89, "p", 1);             /* ping */
    n += client_frame(buf + n, 0x00, "men", 3);           /* continuation */
    n += client_frame(buf + n, 0x8A, "", 0);              /* pong */
    n += client_frame(buf + n, 0x80, "ted", 3);           /* continuation, FIN */
    for (size_t step = 0; step <= 8; step++) {
        uint8_t copy[256];
        memcpy(copy, buf, n);
        struct ws_reader r = { 0 };
        struct collected c = { 0 };
        feed(&r, &server_lim, copy, n, step, &c);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.type[0], WS_EV_PING);
        assert_int_equal(c.len[0], 1);
        assert_memory_equal(c.data[0], "p", 1);
        assert_int_equal(c.type[1], WS_EV_PONG);
        assert_int_equal(c.type[2], WS_EV_MESSAGE);
        assert_int_equal(c.len[2], 10);
        assert_memory_equal(c.data[2], "fragmented", 10);
        ws_reader_reset(&r);
    }
}

static void test_empty_fragments(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = 0;
    n += client_frame(buf + n, 0x01, "", 0);
    n += client_frame(buf + n, 0x00, "", 0);
    n += client_frame(buf + n, 0x80, "", 0);
    struct ws_reader r = { 0 };
    struct collected c = { 0 };
    feed(&r, &server_lim, buf, n, 0, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.type[0], WS_EV_MESSAGE);
    assert_int_equal(c.len[0], 0);
    ws_reader_reset(&r);
}

/* One frame; expects a single error event with `code`. */
static void expect_error(const uint8_t *frame, size_t len, uint16_t code, const struct ws_limits *lim)
{
    uint8_t copy[512];
    memcpy(copy, frame, len);
    struct ws_reader r = { 0 };
    struct collected c = { 0 };
    feed(&r, lim ? lim : &server_lim, copy, len, 0, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.type[0], WS_EV_ERROR);
    assert_int_equal(c.code[0], code);
    /* a failed reader stays failed */
    size_t used;
    struct ws_event ev;
    ws_reader_next(&r, &server_lim, copy, len, &used, &ev);
    assert_int_equal(ev.type, WS_EV_ERROR);
    ws_reader_reset(&r);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    uint8_t f[256];
    size_t n;
    for (uint8_t rsv = 1; rsv <= 7; rsv++) {
        n = client_frame(f, (uint8_t)(0x81 | rsv << 4), "x", 1);
        expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    }
    uint8_t reserved_ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
    for (size_t i = 0; i < sizeof reserved_ops; i++) {
        n = client_frame(f, (uint8_t)(0x80 | reserved_ops[i]), "", 0);
        expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    }
    /* unmasked client frame */
    f[0] = 0x81; f[1] = 0x01; f[2] = 'x';
    expect_error(f, 3, WS_CLOSE_PROTOCOL, NULL);
    /* control frame over 125 bytes, fragmented control frame */
    uint8_t big[126] = { 0 };
    n = client_frame(f, 0x89, big, 126);
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    n = client_frame(f, 0x09, "", 0);
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    /* continuation without a message */
    n = client_frame(f, 0x80, "x", 1);
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    /* new text message inside a fragmented one */
    n = client_frame(f, 0x01, "a", 1);
    n += client_frame(f + n, 0x81, "b", 1);
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    /* 64-bit length with the top bit set */
    uint8_t h[14] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4 };
    expect_error(h, sizeof h, WS_CLOSE_PROTOCOL, NULL);
}

static void test_fails_fast_before_payload(void **state)
{
    (void)state;
    /* the first two bytes decide: no need to wait for length or mask */
    uint8_t rsv[2] = { 0xC1, 0x85 };
    expect_error(rsv, 2, WS_CLOSE_PROTOCOL, NULL);
}

static void test_too_big(void **state)
{
    (void)state;
    struct ws_limits lim = { .max_frame = 10, .max_message = 15, .peer_masks = true };
    uint8_t f[256];
    size_t n = client_frame(f, 0x82, "0123456789a", 11);
    expect_error(f, n, WS_CLOSE_TOO_BIG, &lim);
    n = client_frame(f, 0x02, "0123456789", 10);
    n += client_frame(f + n, 0x80, "0123456", 7);           /* 17 > 15 */
    expect_error(f, n, WS_CLOSE_TOO_BIG, &lim);
    /* the limit is checked from the header alone: a 2^40-byte frame fails at once */
    uint8_t h[14] = { 0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
    expect_error(h, sizeof h, WS_CLOSE_TOO_BIG, &lim);
}

static void test_utf8_fail_fast_and_across_fragments(void **state)
{
    (void)state;
    uint8_t f[256];
    /* invalid byte in a first fragment: error before the message ends */
    size_t n = client_frame(f, 0x01, "ok\xC0\xAF", 4);
    expect_error(f, n, WS_CLOSE_BAD_DATA, NULL);
    /* surrogate, above U+10FFFF */
    n = client_frame(f, 0x81, "\xED\xA0\x80", 3);
    expect_error(f, n, WS_CLOSE_BAD_DATA, NULL);
    n = client_frame(f, 0x81, "\xF4\x90\x80\x80", 4);
    expect_error(f, n, WS_CLOSE_BAD_DATA, NULL);
    /* truncated at the end of the message */
    n = client_frame(f, 0x81, "a\xE2\x82", 3);
    expect_error(f, n, WS_CLOSE_BAD_DATA, NULL);
    /* a valid code point split across fragments is fine */
    n = client_frame(f, 0x01, "\xE2\x82", 2);
    n += client_frame(f + n, 0x80, "\xAC", 1);
    struct ws_reader r = { 0 };
    struct collected c = { 0 };
    feed(&r, &server_lim, f, n, 1, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.type[0], WS_EV_MESSAGE);
    assert_memory_equal(c.data[0], "\xE2\x82\xAC", 3);
    ws_reader_reset(&r);
    /* binary messages are not checked */
    n = client_frame(f, 0x82, "\xFF\xFE", 2);
    struct ws_reader r2 = { 0 };
    struct collected c2 = { 0 };
    feed(&r2, &server_lim, f, n, 0, &c2);
    assert_int_equal(c2.type[0], WS_EV_MESSAGE);
    ws_reader_reset(&r2);
}

static void test_close_frames(void **state)
{
    (void)state;
    uint8_t f[256];
    /* no payload: 1005 */
    size_t n = client_frame(f, 0x88, "", 0);
    struct ws_reader r = { 0 };
    struct collected c = { 0 };
    feed(&r, &server_lim, f, n, 0, &c);
    assert_int_equal(c.type[0], WS_EV_CLOSE);
    assert_int_equal(c.code[0], WS_CLOSE_NO_STATUS);
    ws_reader_reset(&r);
    /* valid codes with a reason */
    uint32_t valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999 };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t p[8] = { (uint8_t)(valid[i] >> 8), (uint8_t)valid[i], 'b', 'y', 'e' };
        n = client_frame(f, 0x88, p, 5);
        struct ws_reader rr = { 0 };
        struct collected cc = { 0 };
        feed(&rr, &server_lim, f, n, 3, &cc);
        assert_int_equal(cc.type[0], WS_EV_CLOSE);
        assert_int_equal(cc.code[0], valid[i]);
        assert_int_equal(cc.len[0], 3);
        assert_memory_equal(cc.data[0], "bye", 3);
        ws_reader_reset(&rr);
    }
    uint32_t invalid[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        uint8_t p[2] = { (uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i] };
        n = client_frame(f, 0x88, p, 2);
        expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    }
    n = client_frame(f, 0x88, "\x03", 1);                     /* 1-byte payload */
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
    n = client_frame(f, 0x88, "\x03\xE8\xC0\xAF", 4);         /* reason not UTF-8 */
    expect_error(f, n, WS_CLOSE_PROTOCOL, NULL);
}

static void test_close_payload_builder(void **state)
{
    (void)state;
    uint8_t out[WS_MAX_CONTROL];
    size_t n = ws_close_payload(out, 1001, "going");
    assert_int_equal(n, 7);
    assert_int_equal(out[0] << 8 | out[1], 1001);
    /* long reasons are cut at a UTF-8 boundary to fit 125 bytes */
    char reason[300];
    for (int i = 0; i < 99; i++) memcpy(reason + 3 * i, "\xE2\x82\xAC", 3);
    reason[297] = '\0';
    n = ws_close_payload(out, 1000, reason);
    assert_true(n <= WS_MAX_CONTROL);
    assert_true(utf8_valid(out + 2, n - 2));
}

static void test_client_side_reader(void **state)
{
    (void)state;
    struct ws_limits lim = { .max_frame = 1000, .max_message = 1000, .peer_masks = false };
    uint8_t f[32];
    size_t n = ws_frame_header(f, WS_OP_TEXT, true, 2, NULL);
    memcpy(f + n, "hi", 2);
    struct ws_reader r = { 0 };
    struct collected c = { 0 };
    feed(&r, &lim, f, n + 2, 1, &c);
    assert_int_equal(c.type[0], WS_EV_MESSAGE);
    assert_memory_equal(c.data[0], "hi", 2);
    ws_reader_reset(&r);
    /* a masked frame from a server is an error */
    n = client_frame(f, 0x81, "hi", 2);
    expect_error(f, n, WS_CLOSE_PROTOCOL, &lim);
}

static void test_close_code_valid(void **state)
{
    (void)state;
    for (uint32_t c = 0; c < 70000; c++) {
        bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        assert_int_equal(ws_close_code_valid(c), want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_accept_key_rejects_bad_keys),
        cmocka_unit_test(test_header_lengths),
        cmocka_unit_test(test_mask_offsets),
        cmocka_unit_test(test_single_text_every_split),
        cmocka_unit_test(test_lengths_16_and_64_bit),
        cmocka_unit_test(test_fragments_with_ping_between),
        cmocka_unit_test(test_empty_fragments),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_fails_fast_before_payload),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_utf8_fail_fast_and_across_fragments),
        cmocka_unit_test(test_close_frames),
        cmocka_unit_test(test_close_payload_builder),
        cmocka_unit_test(test_client_side_reader),
        cmocka_unit_test(test_close_code_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
