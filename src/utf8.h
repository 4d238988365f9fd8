/* utf8.h: UTF-8 validation (incremental, fail-fast) and UTF-16 length of UTF-8 text.
 *
 * Owns nothing; pure functions over caller memory. The WebSocket layer feeds text-message
 * payload through utf8_feed() chunk by chunk (fragments and TCP splits included) so an
 * invalid byte is reported the moment it arrives (RFC 6455 section 8.1, close 1007).
 * The OT layer counts positions in UTF-16 code units, as ot.js does: utf8_utf16_len().
 */
#ifndef RINGROOM_UTF8_H
#define RINGROOM_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validator state: 0 at a code point boundary. Opaque otherwise. */
typedef uint32_t utf8_state;
#define UTF8_START 0u

/* Feeds n bytes; returns false at the first byte that cannot start or continue a valid
 * sequence (overlongs, surrogates U+D800..DFFF and code points above U+10FFFF included).
 * *state carries a partial sequence to the next call. */
bool utf8_feed(utf8_state *state, const uint8_t *s, size_t n);

/* True when no partial sequence is pending (the message may end here). */
static inline bool utf8_at_boundary(utf8_state state) { return state == UTF8_START; }

/* Whole-buffer check: valid and complete. */
bool utf8_valid(const uint8_t *s, size_t n);

/* Number of UTF-16 code units the (valid) UTF-8 text s[0..n) encodes. */
size_t utf8_utf16_len(const uint8_t *s, size_t n);

/* Byte offset in valid UTF-8 text s[0..n) after `units` UTF-16 code units, or SIZE_MAX if
 * the text is shorter or `units` ends inside a surrogate pair (between the two halves of a
 * 4-byte sequence). */
size_t utf8_offset_of_units(const uint8_t *s, size_t n, size_t units);

#endif
