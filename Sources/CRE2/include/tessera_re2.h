// A C face for RE2 (Debian's libre2-dev), the linear-time regular-expression engine that runs the patterns
// tenants send: no backtracking, so no pattern and text can take more than time proportional to their product.
#ifndef TESSERA_RE2_H
#define TESSERA_RE2_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tessera_re2 tessera_re2;

/// Compiles a UTF-8 pattern using at most `max_memory` bytes for its automata. NULL when the pattern is
/// invalid or too large; then `error` (when not NULL) holds up to `error_capacity - 1` bytes of RE2's reason.
tessera_re2 *tessera_re2_compile(const char *pattern, size_t length, long long max_memory, char *error,
                                 size_t error_capacity);

void tessera_re2_free(tessera_re2 *re);

/// Finds the leftmost match in `text`. Returns 1 and the byte range [*start, *end) of the first capture group
/// when the pattern has one and it took part in the match, else of the whole match; 0 when nothing matches.
int tessera_re2_first_match(const tessera_re2 *re, const char *text, size_t length, size_t *start, size_t *end);

#ifdef __cplusplus
}
#endif

#endif
