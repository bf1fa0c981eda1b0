/* multilabel.c -- multi-label losses on logits: focal, asymmetric, ZLPR, soft-F1. */
#include <math.h>

#include "iter.h"

#include "dtype_f32.h"
#include "multilabel_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "multilabel_impl.h"
#include "dtype_undef.h"
