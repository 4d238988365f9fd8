/* webfiles.h: the demo page's files, read once at start-up and served from memory.
 *
 * Loaded by the main thread before the cores start and read-only afterwards, so every core
 * serves them without locks. Each file has a content type and a strong ETag (a hash of its
 * bytes) for If-None-Match revalidation.
 */
#ifndef RINGROOM_WEBFILES_H
#define RINGROOM_WEBFILES_H

#include <stddef.h>

struct webfile {
    char *path;               /* URL path, e.g. "/index.html" */
    char *data;
    size_t len;
    const char *content_type;
    const char *cache_control;
    char etag[24];            /* "\"<16 hex>\"" */
};

struct webfiles {
    struct webfile *files;
    size_t n;
};

/* Loads every regular file under dir (two levels deep, at most 256 files of 8 MiB). A missing
 * directory gives an empty set (logged); other errors return NULL. */
struct webfiles *webfiles_load(const char *dir);

/* The file for a URL path ("/" means "/index.html"), or NULL. */
const struct webfile *webfiles_find(const struct webfiles *w, const char *path, size_t len);

void webfiles_free(struct webfiles *w);

#endif
