/* rooms.c: the stored rooms (store.h), in memory on their core: each core's table of rooms
 * and, per room, its document, the op ring (the last --history-window ops), the chat ring
 * (the last --chat-history messages), the client ids of idempotent resubmission and the
 * canvas elements (last writer wins); and encode_room_state, which turns all of that into
 * records for a checkpoint.
 *
 * Nothing here touches a file or the ring: the write path (writer.c) and recovery
 * (recovery.c) call in, and this file calls neither of them, so that the three depend one
 * way. A core's rooms are used by its thread only; recovery builds them on the main thread
 * before the cores run.
 */
#include "internal.h"

#include "hash.h"
#include "log.h"
#include "record.h"

#include <stdlib.h>
#include <string.h>

/* ---- the table ---- */

void sroom_free(struct store_room *sr)
{
    for (uint32_t i = 0; i < sr->ops_count; i++) {
        struct store_op *o = &sr->ops[(sr->ops_head + i) % sr->ops_cap];
        free(o->from);
        free(o->op);
    }
    free(sr->ops);
    for (uint32_t i = 0; i < sr->chat_count; i++) free(sr->chat[(sr->chat_head + i) % sr->chat_cap].json);
    free(sr->chat);
    free(sr->cids);
    for (uint32_t i = 0; i < sr->elements_cap; i++) {
        free(sr->elements[i].id);
        free(sr->elements[i].json);
    }
    free(sr->elements);
    doc_free(sr->doc);
    free(sr);
}

static struct store_room **sroom_slot(struct store_core *sc, uint64_t h, const char *name, size_t len)
{
    struct store_room **p = &sc->buckets[(h >> 32) & (sc->nbuckets - 1)];
    while (*p && !((*p)->hash == h && (*p)->name_len == len && !memcmp((*p)->name, name, len))) p = &(*p)->hnext;
    return p;
}

void sroom_insert(struct store_core *sc, struct store_room *sr)
{
    struct store_room **slot = sroom_slot(sc, sr->hash, sr->name, sr->name_len);
    *slot = sr;
    if (++sc->count > sc->nbuckets) {
        uint32_t n = sc->nbuckets * 2;
        struct store_room **b = calloc(n, sizeof *b);
        if (!b) return;
        for (uint32_t i = 0; i < sc->nbuckets; i++) {
            struct store_room *r = sc->buckets[i];
            while (r) {
                struct store_room *next = r->hnext;
                struct store_room **dst = &b[(r->hash >> 32) & (n - 1)];
                r->hnext = *dst;
                *dst = r;
                r = next;
            }
        }
        free(sc->buckets);
        sc->buckets = b;
        sc->nbuckets = n;
    }
}

struct store_room *sroom_new(const struct config *cfg, const char *name, size_t len)
{
    if (len > ROOM_NAME_MAX) return NULL;
    struct store_room *sr = calloc(1, sizeof *sr);
    if (!sr) return NULL;
    memcpy(sr->name, name, len);
    sr->name_len = len;
    sr->hash = hash_fnv1a(name, len);
    sr->ops_max = cfg->history_window;
    return sr;
}

/* Appends to the op ring, taking ownership of from/op. Never evicts an op that is not durable
 * yet (room.c needs it to broadcast): the ring grows instead. */
bool sroom_push_op(struct store_room *sr, uint64_t rev, uint64_t ts, char *from, uint32_t from_len,
                          char *op, uint32_t op_len)
{
    if (sr->ops_count == sr->ops_max && sr->ops[sr->ops_head].rev <= sr->durable_rev) {
        struct store_op *old = &sr->ops[sr->ops_head];
        free(old->from);
        free(old->op);
        sr->ops_head = (sr->ops_head + 1) % sr->ops_cap;
        sr->ops_count--;
    }
    if (sr->ops_count == sr->ops_cap) {
        uint32_t cap = sr->ops_cap ? sr->ops_cap * 2 : 16;
        struct store_op *n = malloc((size_t)cap * sizeof *n);
        if (!n) return false;
        for (uint32_t i = 0; i < sr->ops_count; i++) n[i] = sr->ops[(sr->ops_head + i) % sr->ops_cap];
        free(sr->ops);
        sr->ops = n;
        sr->ops_cap = cap;
        sr->ops_head = 0;
    }
    sr->ops[(sr->ops_head + sr->ops_count++) % sr->ops_cap] =
        (struct store_op){ .rev = rev, .ts = ts, .from = from, .op = op, .from_len = from_len, .op_len = op_len };
    return true;
}

bool sroom_push_chat(struct store_room *sr, uint32_t max, uint64_t seq, uint64_t ts, const char *json, size_t len)
{
    if (max == 0) return true;
    char *copy = malloc(len ? len : 1);
    if (!copy) return false;
    memcpy(copy, json, len);
    if (sr->chat_cap < max) {
        struct chat_msg *n = calloc(max, sizeof *n);
        if (!n) { free(copy); return false; }
        for (uint32_t i = 0; i < sr->chat_count; i++) n[i] = sr->chat[(sr->chat_head + i) % sr->chat_cap];
        free(sr->chat);
        sr->chat = n;
        sr->chat_cap = max;
        sr->chat_head = 0;
    }
    if (sr->chat_count == sr->chat_cap) {
        free(sr->chat[sr->chat_head].json);
        sr->chat_head = (sr->chat_head + 1) % sr->chat_cap;
        sr->chat_count--;
    }
    sr->chat[(sr->chat_head + sr->chat_count++) % sr->chat_cap] = (struct chat_msg){ copy, (uint32_t)len, seq, ts };
    return true;
}

void store_room_keep_chat(struct store_core *sc, struct store_room *sr, uint64_t seq, uint64_t ts,
                          const char *json, size_t len)
{
    sroom_push_chat(sr, sc->st->cfg.chat_history, seq, ts, json, len);
}


struct store_room *store_room_get(struct store_core *sc, const char *name, size_t len, bool create)
{
    uint64_t h = hash_fnv1a(name, len);
    struct store_room *sr = *sroom_slot(sc, h, name, len);
    if (sr || !create) return sr;
    const struct config *cfg = &sc->st->cfg;
    sr = sroom_new(cfg, name, len);
    if (!sr) return NULL;
    sr->doc = doc_new("", 0, 0, cfg->ot_window, cfg->max_doc_bytes);
    if (!sr->doc) {
        free(sr);
        return NULL;
    }
    sroom_insert(sc, sr);
    return sr;
}

doc *store_room_doc(struct store_room *sr) { return sr->doc; }
void *store_room_live(const struct store_room *sr) { return sr->live; }
void store_room_set_live(struct store_room *sr, void *room) { sr->live = room; }
uint64_t store_room_durable_rev(const struct store_room *sr) { return sr->durable_rev; }
uint64_t store_room_fenced(const struct store_room *sr) { return sr->fence_rev; }
uint64_t store_room_chat_seq(const struct store_room *sr) { return sr->chat_seq; }
uint64_t store_room_next_chat_seq(struct store_room *sr) { return ++sr->chat_seq; }
void store_room_note_chat_seq(struct store_room *sr, uint64_t seq)
{
    if (seq > sr->chat_seq) sr->chat_seq = seq;
}
uint32_t store_room_chat_count(const struct store_room *sr) { return sr->chat_count; }

const char *store_room_chat(const struct store_room *sr, uint32_t i, size_t *len)
{
    const struct chat_msg *m = &sr->chat[(sr->chat_head + i) % sr->chat_cap];
    *len = m->len;
    return m->json;
}

uint64_t store_room_oldest_op(const struct store_room *sr)
{
    return sr->ops_count ? sr->ops[sr->ops_head].rev : doc_rev(sr->doc) + 1;
}

const struct store_op *store_room_op(const struct store_room *sr, uint64_t rev)
{
    if (!sr->ops_count) return NULL;
    uint64_t oldest = sr->ops[sr->ops_head].rev;
    if (rev < oldest || rev - oldest >= sr->ops_count) return NULL;
    return &sr->ops[(sr->ops_head + (rev - oldest)) % sr->ops_cap];
}

/* ---- client ids (idempotent resubmission) ---- */

/* Drops the cids whose last op is no longer in the op ring (nothing in the history window). */
static void cids_evict(struct store_room *sr)
{
    uint64_t oldest = store_room_oldest_op(sr);
    for (uint32_t i = 0; i < sr->ncids;)
        if (sr->cids[i].rev < oldest) sr->cids[i] = sr->cids[--sr->ncids];
        else i++;
}

static struct cid_ent *cid_find(const struct store_room *sr, const char *cid, size_t len)
{
    for (uint32_t i = 0; i < sr->ncids; i++)
        if (sr->cids[i].len == len && !memcmp(sr->cids[i].id, cid, len)) return &sr->cids[i];
    return NULL;
}

/* Remembers that cid's op cseq created revision rev (keeps the highest cseq). */
void cid_note(struct store_room *sr, const char *cid, size_t len, uint64_t cseq, uint64_t rev)
{
    if (!len || len > STORE_CID_MAX) return;
    struct cid_ent *e = cid_find(sr, cid, len);
    if (!e) {
        cids_evict(sr);
        if (sr->ncids == sr->cids_cap) {
            uint32_t cap = sr->cids_cap ? sr->cids_cap * 2 : 8;
            struct cid_ent *n = realloc(sr->cids, (size_t)cap * sizeof *n);
            if (!n) {
                log_warn("op log: room %s: out of memory remembering client id; a resubmission may apply twice", sr->name);
                return;
            }
            sr->cids = n;
            sr->cids_cap = cap;
        }
        e = &sr->cids[sr->ncids++];
        e->len = (uint8_t)len;
        memcpy(e->id, cid, len);
    } else if (cseq <= e->cseq) {
        return;
    }
    e->cseq = cseq;
    e->rev = rev;
}

bool store_room_cid(const struct store_room *sr, const char *cid, size_t len, uint64_t *cseq, uint64_t *rev)
{
    const struct cid_ent *e = cid_find(sr, cid, len);
    if (!e || e->rev < store_room_oldest_op(sr)) return false;
    *cseq = e->cseq;
    *rev = e->rev;
    return true;
}

/* ---- canvas elements ---- */

static uint32_t element_slot(const struct store_room *sr, const char *id, size_t len)
{
    uint32_t mask = sr->elements_cap - 1, i = (uint32_t)hash_fnv1a(id, len) & mask;
    while (sr->elements[i].id && !(sr->elements[i].id_len == len && !memcmp(sr->elements[i].id, id, len)))
        i = (i + 1) & mask;
    return i;
}

static bool elements_grow(struct store_room *sr)
{
    uint32_t cap = sr->elements_cap ? sr->elements_cap * 2 : 16, old_cap = sr->elements_cap;
    struct element *old = sr->elements, *n = calloc(cap, sizeof *n);
    if (!n) return false;
    sr->elements = n;
    sr->elements_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].id) sr->elements[element_slot(sr, old[i].id, old[i].id_len)] = old[i];
    free(old);
    return true;
}

/* The last-writer-wins merge, in memory only (recovery replays winners with it too: the rule
 * is order-independent, so segments may come in any order). */
enum store_element_put element_merge(struct store_room *sr, const char *id, size_t id_len, int64_t version,
                                            int64_t nonce, const char *json, size_t len, uint32_t max_elements)
{
    if (id_len == 0 || id_len > STORE_ELEMENT_ID_MAX) return STORE_ELEMENT_LOST;
    if ((sr->nelements + 1) * 2 > sr->elements_cap && !elements_grow(sr)) return STORE_ELEMENT_NOMEM;
    struct element *e = &sr->elements[element_slot(sr, id, id_len)];
    if (e->id) {
        /* a higher version wins; on a tie the lower versionNonce */
        if (version < e->version || (version == e->version && nonce >= e->nonce)) return STORE_ELEMENT_LOST;
    } else if (sr->nelements >= max_elements) {
        return STORE_ELEMENT_FULL;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy) return STORE_ELEMENT_NOMEM;
    if (!e->id) {
        if (!(e->id = malloc(id_len))) {
            free(copy);
            return STORE_ELEMENT_NOMEM;
        }
        memcpy(e->id, id, id_len);
        e->id_len = (uint32_t)id_len;
        sr->nelements++;
    }
    memcpy(copy, json, len);
    free(e->json);
    e->json = copy;
    e->json_len = (uint32_t)len;
    e->version = version;
    e->nonce = nonce;
    return STORE_ELEMENT_WON;
}

uint32_t store_room_element_slots(const struct store_room *sr) { return sr->elements_cap; }

const char *store_room_element(const struct store_room *sr, uint32_t i, size_t *len)
{
    const struct element *e = &sr->elements[i];
    *len = e->json_len;
    return e->id ? e->json : NULL;
}

/* ---- a room as records ---- */

/* Everything recovery needs of a room: a snapshot at its revision, the ops of its history
 * window (a cid's latest op keeps its cid), its kept chat. */
bool encode_room_state(struct store_buf *b, struct store_room *sr)
{
    const ot_text *t = doc_text(sr->doc);
    bool ok = store_encode_snapshot(b, sr->name, sr->name_len, doc_rev(sr->doc), sr->chat_seq, t->utf8 ? t->utf8 : "",
                                    t->bytes);
    /* each cid's latest op carries it (the ring holds consecutive revisions from the oldest):
     * one pass over the cids, not one per op, since this runs on the core between batches */
    const struct cid_ent **cid_of = NULL;
    if (sr->ncids && sr->ops_count && ok && !(cid_of = calloc(sr->ops_count, sizeof *cid_of))) ok = false;
    for (uint32_t j = 0; j < sr->ncids && cid_of; j++) {
        uint64_t k = sr->cids[j].rev - sr->ops[sr->ops_head].rev;      /* its op's place in the ring */
        if (sr->cids[j].rev >= sr->ops[sr->ops_head].rev && k < sr->ops_count) cid_of[k] = &sr->cids[j];
    }
    for (uint32_t i = 0; i < sr->ops_count && ok; i++) {
        const struct store_op *o = &sr->ops[(sr->ops_head + i) % sr->ops_cap];
        const struct cid_ent *ce = cid_of ? cid_of[i] : NULL;
        ok = store_encode_op_cid(b, sr->name, sr->name_len, o->rev, o->ts, o->from, o->from_len, o->op, o->op_len,
                                 ce ? ce->id : NULL, ce ? ce->len : 0, ce ? ce->cseq : 0);
    }
    free(cid_of);
    for (uint32_t i = 0; i < sr->chat_count && ok; i++) {
        const struct chat_msg *m = &sr->chat[(sr->chat_head + i) % sr->chat_cap];
        ok = store_encode_chat(b, sr->name, sr->name_len, m->seq, m->ts, m->json, m->len);
    }
    for (uint32_t i = 0; i < sr->elements_cap && ok; i++) {
        const struct element *e = &sr->elements[i];
        if (e->id)
            ok = store_encode_element(b, sr->name, sr->name_len, e->id, e->id_len, e->version, e->nonce, e->json,
                                      e->json_len);
    }
    if (ok) sr->snap_rev = doc_rev(sr->doc);
    return ok;
}
