/* rl_track.h: per-sender sequence tracking at one receiver (loss, duplicates, reordering).
 *
 * A receiver keeps one rl_seqwin per sender it hears from. The window remembers the highest
 * sequence number seen and which of the 64 numbers below it arrived, so a late arrival can
 * be told from a duplicate. Loss is not decided here: it is what remains of `expected` once
 * every unique delivery has been counted. Plain data, owned by whoever embeds it.
 */
#ifndef RINGLOAD_TRACK_H
#define RINGLOAD_TRACK_H

#include <stdint.h>

typedef struct rl_seqwin {
    uint64_t seen;        /* bit i: sequence (next - 1 - i) arrived */
    uint32_t next;        /* highest sequence seen + 1 (0: nothing yet) */
    uint32_t pad;
} rl_seqwin;

enum rl_seq_verdict {
    RL_SEQ_IN_ORDER,      /* the next one, or a jump ahead (a gap that may fill later) */
    RL_SEQ_LATE,          /* fills an earlier gap: unique, but reordered */
    RL_SEQ_DUPLICATE,     /* seen before */
    RL_SEQ_UNTRACKED,     /* more than 64 behind: cannot tell late from duplicate */
};

enum rl_seq_verdict rl_seqwin_see(rl_seqwin *w, uint32_t seq);

#endif
