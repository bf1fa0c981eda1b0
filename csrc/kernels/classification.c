/* classification.c -- the class-index / softmax loss family. */
#include <math.h>

#include "../pylossfn.h"

#include "dtype_f32.h"
#include "classification_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "classification_impl.h"
#include "dtype_undef.h"
