#include "tessera_vectors.h"

#include <string.h>

// A 16-float vector: AVX-512 holds it in one register, AVX2 in two, SSE in four. Unaligned loads via memcpy.
typedef float v16 __attribute__((vector_size(64)));

// Macros, not functions: a 64-byte vector passed or returned would take a different ABI in each build.
#define load(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define sum(v) ({ v16 s_ = (v); float t_ = 0; for (int l_ = 0; l_ < 16; l_++) t_ += s_[l_]; t_; })

#if defined(__x86_64__) && defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

// A 4 × 4 block: each reference chunk loaded once feeds four queries, each query chunk four references.
CLONES
void tessera_inner_products(const float *queries, size_t nq, const float *refs, size_t nr, size_t dim, float *out,
                            size_t ldo) {
    size_t i = 0;
    for (; i + 4 <= nq; i += 4) {
        const float *q0 = queries + i * dim, *q1 = q0 + dim, *q2 = q1 + dim, *q3 = q2 + dim;
        size_t j = 0;
        for (; j + 4 <= nr; j += 4) {
            const float *r0 = refs + j * dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
            v16 a00 = {0}, a01 = {0}, a02 = {0}, a03 = {0}, a10 = {0}, a11 = {0}, a12 = {0}, a13 = {0};
            v16 a20 = {0}, a21 = {0}, a22 = {0}, a23 = {0}, a30 = {0}, a31 = {0}, a32 = {0}, a33 = {0};
            for (size_t k = 0; k < dim; k += 16) {
                v16 x0 = load(q0 + k), x1 = load(q1 + k), x2 = load(q2 + k), x3 = load(q3 + k);
                v16 y = load(r0 + k);
                a00 += x0 * y; a10 += x1 * y; a20 += x2 * y; a30 += x3 * y;
                y = load(r1 + k);
                a01 += x0 * y; a11 += x1 * y; a21 += x2 * y; a31 += x3 * y;
                y = load(r2 + k);
                a02 += x0 * y; a12 += x1 * y; a22 += x2 * y; a32 += x3 * y;
                y = load(r3 + k);
                a03 += x0 * y; a13 += x1 * y; a23 += x2 * y; a33 += x3 * y;
            }
            float *o = out + i * ldo + j;
            o[0] = sum(a00); o[1] = sum(a01); o[2] = sum(a02); o[3] = sum(a03);
            o += ldo;
            o[0] = sum(a10); o[1] = sum(a11); o[2] = sum(a12); o[3] = sum(a13);
            o += ldo;
            o[0] = sum(a20); o[1] = sum(a21); o[2] = sum(a22); o[3] = sum(a23);
            o += ldo;
            o[0] = sum(a30); o[1] = sum(a31); o[2] = sum(a32); o[3] = sum(a33);
        }
        for (; j < nr; j++) {
            const float *r = refs + j * dim;
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (size_t k = 0; k < dim; k += 16) {
                v16 y = load(r + k);
                a0 += load(q0 + k) * y; a1 += load(q1 + k) * y; a2 += load(q2 + k) * y; a3 += load(q3 + k) * y;
            }
            out[i * ldo + j] = sum(a0);
            out[(i + 1) * ldo + j] = sum(a1);
            out[(i + 2) * ldo + j] = sum(a2);
            out[(i + 3) * ldo + j] = sum(a3);
        }
    }
    for (; i < nq; i++) {
        const float *q = queries + i * dim;
        for (size_t j = 0; j < nr; j++) {
            const float *r = refs + j * dim;
            v16 a = {0};
            for (size_t k = 0; k < dim; k += 16) a += load(q + k) * load(r + k);
            out[i * ldo + j] = sum(a);
        }
    }
}
