/* vectors.h: ot.js's test vectors for the unit tests (test_ot.c, test_doc.c): where they are
 * and how they are read. The directory is $RINGROOM_VECTORS, by default ../shared/vectors/ot
 * (the tests run from the repo root). Every failure here fails the calling cmocka test.
 * Include after json.h where both are used (jansson's json_is_*() are one-argument macros). */
#ifndef RINGROOM_TESTS_VECTORS_H
#define RINGROOM_TESTS_VECTORS_H

#include <jansson.h>
#include <stddef.h>

/* A lone surrogate escape (\uD800..\uDFFF unpaired), which jansson refuses and some vectors
 * carry on purpose, is loaded as this (U+10FFFD) followed by the escape's 4 hex digits. */
#define VECTORS_MARK "\xf4\x8f\xbf\xbd"

const char *vectors_dir(void);

/* The sorted names of the directory's *.json files that start with `prefix` ("" for all),
 * manifest.json left out; none is a failure. Free with vectors_names_free. */
size_t vectors_names(const char *prefix, char ***names);
void vectors_names_free(char **names, size_t n);

/* The file `name` of the directory, parsed (lone surrogates marked as above); its "vectors"
 * array must not be empty. */
json_t *vectors_load(const char *name);

#endif
