/* regression.c -- the regression / element-wise loss family: L1, MSE, smooth L1,
 * Huber, soft margin, KL divergence, Poisson and Gaussian NLL, hinge embedding,
 * margin ranking, multi-label soft margin. */
#include <math.h>

#include "iter.h"

#include "dtype_f32.h"
#include "regression_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "regression_impl.h"
#include "dtype_undef.h"
