/* webfiles.c: see webfiles.h. */
#include "webfiles.h"

#include "hash.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 256
#define MAX_FILE_BYTES (8u << 20)

static const char *content_type_of(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
        { ".ico", "image/x-icon" }, { ".txt", "text/plain; charset=utf-8" }, { ".map", "application/json" },
        { ".woff2", "font/woff2" },
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (!strcmp(dot, types[i].ext)) return types[i].type;
    return "application/octet-stream";
}

static int add_file(struct webfiles *w, const char *fs_path, const char *url_path)
{
    if (w->n >= MAX_FILES) {
        log_warn("web: more than %d files; ignoring %s", MAX_FILES, fs_path);
        return 0;
    }
    FILE *f = fopen(fs_path, "rb");
    if (!f) return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size > MAX_FILE_BYTES) {
        fclose(f);
        log_warn("web: skipping %s (unreadable or over %u bytes)", fs_path, MAX_FILE_BYTES);
        return 0;
    }
    size_t len = (size_t)st.st_size;
    char *data = malloc(len ? len : 1);
    char *path = strdup(url_path);
    if (!data || !path || fread(data, 1, len, f) != len) {
        fclose(f);
        free(data);
        free(path);
        return -EIO;
    }
    fclose(f);
    struct webfile *wf = &w->files[w->n++];
    wf->path = path;
    wf->data = data;
    wf->len = len;
    wf->content_type = content_type_of(url_path);
    /* HTML revalidates every time (it names the other files); the rest may be cached briefly. */
    bool html = strstr(wf->content_type, "text/html") != NULL;
    wf->cache_control = html ? "no-cache" : "public, max-age=300";
    snprintf(wf->etag, sizeof wf->etag, "\"%016llx\"", (unsigned long long)hash_fnv1a(data, len));
    return 0;
}

static int scan(struct webfiles *w, const char *dir, const char *url_prefix, int depth)
{
    DIR *d = opendir(dir);
    if (!d) return -errno;
    struct dirent *e;
    int r = 0;
    while (!r && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char fs[1024], url[1024];
        snprintf(fs, sizeof fs, "%s/%s", dir, e->d_name);
        snprintf(url, sizeof url, "%s/%s", url_prefix, e->d_name);
        struct stat st;
        if (stat(fs, &st)) continue;
        if (S_ISDIR(st.st_mode) && depth < 2) r = scan(w, fs, url, depth + 1);
        else if (S_ISREG(st.st_mode)) r = add_file(w, fs, url);
    }
    closedir(d);
    return r;
}

struct webfiles *webfiles_load(const char *dir)
{
    struct webfiles *w = calloc(1, sizeof *w);
    if (!w || !(w->files = calloc(MAX_FILES, sizeof *w->files))) {
        free(w);
        return NULL;
    }
    int r = scan(w, dir, "", 0);
    if (r == -ENOENT) {
        log_warn("web: directory '%s' not found; / will answer 404 (set --web-dir)", dir);
        return w;
    }
    if (r) {
        log_error("web: loading '%s': %s", dir, strerror(-r));
        webfiles_free(w);
        return NULL;
    }
    return w;
}

const struct webfile *webfiles_find(const struct webfiles *w, const char *path, size_t len)
{
    if (len == 1 && path[0] == '/') {
        path = "/index.html";
        len = strlen(path);
    }
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->files[i].path) == len && !memcmp(w->files[i].path, path, len)) return &w->files[i];
    return NULL;
}

void webfiles_free(struct webfiles *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->files[i].path);
        free(w->files[i].data);
    }
    free(w->files);
    free(w);
}
