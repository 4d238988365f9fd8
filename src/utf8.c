/* utf8.c: see utf8.h. Written here rather than taken from a library because it must be
 * incremental (state carried across WebSocket fragments) and fail-fast, which neither
 * OpenSSL nor glibc offers; the table of valid sequences is RFC 3629 section 4. */
#include "utf8.h"

#include <string.h>

/* state = need | lo << 8 | hi << 16: continuation bytes still needed and the allowed
 * range for the next one (narrower than 80..BF right after E0, ED, F0 and F4). */
#define ST(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

static inline uint32_t lead_state(uint8_t b)
{
    if (b >= 0xC2 && b <= 0xDF) return ST(1, 0x80, 0xBF);
    if (b == 0xE0) return ST(2, 0xA0, 0xBF);
    if (b == 0xED) return ST(2, 0x80, 0x9F);            /* no UTF-16 surrogates */
    if (b >= 0xE1 && b <= 0xEF) return ST(2, 0x80, 0xBF);
    if (b == 0xF0) return ST(3, 0x90, 0xBF);
    if (b >= 0xF1 && b <= 0xF3) return ST(3, 0x80, 0xBF);
    if (b == 0xF4) return ST(3, 0x80, 0x8F);            /* nothing above U+10FFFF */
    return 0xFFFFFFFFu;                                   /* 80..C1, F5..FF */
}

bool utf8_feed(utf8_state *state, const uint8_t *s, size_t n)
{
    uint32_t st = *state;
    size_t i = 0;
    while (i < n) {
        if (st == 0) {
            /* ASCII fast path, 8 bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            if (i == n) break;
            uint8_t b = s[i++];
            if (b < 0x80) continue;
            st = lead_state(b);
            if (st == 0xFFFFFFFFu) { *state = 0; return false; }
        } else {
            uint8_t b = s[i++];
            uint8_t lo = (uint8_t)(st >> 8), hi = (uint8_t)(st >> 16);
            if (b < lo || b > hi) { *state = 0; return false; }
            uint32_t need = (st & 0xFF) - 1;
            st = need ? ST(need, 0x80, 0xBF) : 0;
        }
    }
    *state = st;
    return true;
}

bool utf8_valid(const uint8_t *s, size_t n)
{
    utf8_state st = UTF8_START;
    return utf8_feed(&st, s, n) && utf8_at_boundary(st);
}

size_t utf8_utf16_len(const uint8_t *s, size_t n)
{
    /* Every byte that is not a continuation byte starts a code point (1 unit); 4-byte
     * leaders (F0..F4) start a supplementary one, which takes a surrogate pair (2 units). */
    size_t units = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = s[i];
        units += (b & 0xC0) != 0x80;
        units += b >= 0xF0;
    }
    return units;
}

size_t utf8_offset_of_units(const uint8_t *s, size_t n, size_t units)
{
    size_t i = 0;
    while (units > 0) {
        if (i >= n) return SIZE_MAX;
        uint8_t b = s[i];
        if (b < 0x80) { i += 1; units -= 1; }
        else if (b < 0xE0) { i += 2; units -= 1; }
        else if (b < 0xF0) { i += 3; units -= 1; }
        else {
            if (units == 1) return SIZE_MAX;            /* would split a surrogate pair */
            i += 4; units -= 2;
        }
    }
    return i <= n ? i : SIZE_MAX;
}
