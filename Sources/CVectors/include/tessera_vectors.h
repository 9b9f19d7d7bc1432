#ifndef TESSERA_VECTORS_H
#define TESSERA_VECTORS_H

#include <stddef.h>

/// out[i * ldo + j] = dot(queries[i], refs[j]) for i < nq, j < nr. Rows are `dim` floats apart, `dim` a multiple
/// of 16 (rows padded with zeros). Built for AVX-512, AVX2+FMA and plain x86-64, chosen at load time.
void tessera_inner_products(const float *queries, size_t nq, const float *refs, size_t nr, size_t dim, float *out,
                            size_t ldo);

#endif
