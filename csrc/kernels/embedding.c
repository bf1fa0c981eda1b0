/* embedding.c -- row-pair losses: cosine embedding, triplet margin, distances. */
#define LF_IMPL "embedding_impl.h"
#define LF_EXPORTS(K, KV)                                                             \
    KV(pairwise_distance, (const lf_rows *a, double p, double eps), (a, p, eps))      \
    KV(cosine_similarity, (const lf_rows *a, double eps), (a, eps))                   \
    K(double, cosine_embedding, (const lf_rows *a, double margin), (a, margin))       \
    K(double, triplet,                                                                \
      (const lf_rows *a, lf_distance dist, double margin, double p, double eps, int swap, \
       double *work, int slots),                                                      \
      (a, dist, margin, p, eps, swap, work, slots))
#include "variants.h"
