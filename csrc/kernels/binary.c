/* binary.c -- the binary (per-element, probability / logit) loss family. */
#include <math.h>

#include "iter.h"

#include "dtype_f32.h"
#include "binary_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "binary_impl.h"
#include "dtype_undef.h"
