/* rl_track.c: see rl_track.h. */
#include "rl_track.h"

enum rl_seq_verdict rl_seqwin_see(rl_seqwin *w, uint32_t seq)
{
    if (seq >= w->next) {
        uint64_t shift = (uint64_t)seq - w->next + 1;
        w->seen = shift >= 64 ? 0 : w->seen << shift;
        w->seen |= 1;
        w->next = seq + 1;
        return RL_SEQ_IN_ORDER;
    }
    uint32_t behind = w->next - 1 - seq;
    if (behind >= 64) return RL_SEQ_UNTRACKED;
    uint64_t bit = 1ull << behind;
    if (w->seen & bit) return RL_SEQ_DUPLICATE;
    w->seen |= bit;
    return RL_SEQ_LATE;
}
