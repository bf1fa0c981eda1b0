/* embedding.c -- row-pair losses: cosine embedding, triplet margin, distances. */
#include <math.h>
#include <string.h>

#include "../pylossfn.h"

#include "dtype_f32.h"
#include "embedding_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "embedding_impl.h"
#include "dtype_undef.h"
