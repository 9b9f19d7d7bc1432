#include "tessera_re2.h"

#include <re2/re2.h>

#include <cstring>
#include <string>

struct tessera_re2 {
    re2::RE2 regex;
    tessera_re2(const re2::StringPiece &pattern, const re2::RE2::Options &options) : regex(pattern, options) {}
};

extern "C" tessera_re2 *tessera_re2_compile(const char *pattern, size_t length, long long max_memory, char *error,
                                            size_t error_capacity) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(max_memory);
    auto *re = new tessera_re2(re2::StringPiece(pattern, length), options);
    if (re->regex.ok()) return re;
    if (error != nullptr && error_capacity > 0) {
        const std::string &reason = re->regex.error();
        size_t count = reason.size() < error_capacity - 1 ? reason.size() : error_capacity - 1;
        std::memcpy(error, reason.data(), count);
        error[count] = '\0';
    }
    delete re;
    return nullptr;
}

extern "C" void tessera_re2_free(tessera_re2 *re) { delete re; }

extern "C" int tessera_re2_first_match(const tessera_re2 *re, const char *text, size_t length, size_t *start,
                                       size_t *end) {
    re2::StringPiece input(text, length);
    re2::StringPiece groups[2];
    int count = re->regex.NumberOfCapturingGroups() >= 1 ? 2 : 1;
    if (!re->regex.Match(input, 0, length, re2::RE2::UNANCHORED, groups, count)) return 0;
    const re2::StringPiece &found = count == 2 && groups[1].data() != nullptr ? groups[1] : groups[0];
    *start = static_cast<size_t>(found.data() - text);
    *end = *start + found.size();
    return 1;
}
