/* vectors.c: finding and reading ot.js's test vectors for the unit tests (see vectors.h).
 * jansson reads the files; the one thing done by hand is marking lone surrogate escapes,
 * which jansson refuses (no option turns that off) and the vectors use on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vectors.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vectors_dir(void)
{
    const char *d = getenv("RINGROOM_VECTORS");
    return d && *d ? d : "../shared/vectors/ot";
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t vectors_names(const char *prefix, char ***names)
{
    DIR *dd = opendir(vectors_dir());
    if (!dd) fail_msg("vector directory %s missing (set RINGROOM_VECTORS)", vectors_dir());
    size_t n = 0, cap = 16, plen = strlen(prefix);
    char **v = malloc(cap * sizeof *v);
    struct dirent *de;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l <= 5 || strcmp(de->d_name + l - 5, ".json") || !strcmp(de->d_name, "manifest.json") ||
            strncmp(de->d_name, prefix, plen))
            continue;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = strdup(de->d_name);
    }
    closedir(dd);
    if (n == 0) fail_msg("no %s*.json in %s", prefix, vectors_dir());
    qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    return n;
}

void vectors_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int esc_value(const char *s, size_t n, size_t i)   /* s[i] == '\\', s[i+1] == 'u' */
{
    if (i + 6 > n) return -1;
    int v = 0;
    for (int k = 2; k < 6; k++) {
        int h = hexv(s[i + k]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Rewrites lone surrogate escapes to "\udbff\udffd" + their 4 hex digits (VECTORS_MARK). */
static char *mark_lone_surrogates(const char *s, size_t n, size_t *out_n)
{
    char *o = malloc(n * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\' || i + 1 >= n) { o[k++] = s[i++]; continue; }
        if (s[i + 1] != 'u') { o[k++] = s[i++]; o[k++] = s[i++]; continue; }
        int v = esc_value(s, n, i);
        bool lone = false;
        if (v >= 0xD800 && v <= 0xDBFF) {
            int lo = i + 7 < n && s[i + 6] == '\\' && s[i + 7] == 'u' ? esc_value(s, n, i + 6) : -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                memcpy(o + k, s + i, 12);
                k += 12;
                i += 12;
                continue;
            }
            lone = true;
        } else if (v >= 0xDC00 && v <= 0xDFFF) {
            lone = true;
        }
        if (lone) {
            k += (size_t)sprintf(o + k, "\\udbff\\udffd%04x", v);
        } else {
            memcpy(o + k, s + i, 6);
            k += 6;
        }
        i += 6;
    }
    *out_n = k;
    return o;
}

json_t *vectors_load(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", vectors_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (vector directory missing? set RINGROOM_VECTORS)", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if ((long)fread(buf, 1, (size_t)sz, f) != sz) fail_msg("cannot read %s", path);
    fclose(f);
    size_t n;
    char *m = mark_lone_surrogates(buf, (size_t)sz, &n);
    free(buf);
    json_error_t err;
    json_t *root = json_loadb(m, n, JSON_ALLOW_NUL, &err);
    free(m);
    if (!root) fail_msg("%s: jansson: %s (line %d)", path, err.text, err.line);
    if (json_array_size(json_object_get(root, "vectors")) == 0) fail_msg("%s: 0 vectors", path);
    return root;
}
