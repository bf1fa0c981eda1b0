/* ctc.c -- connectionist temporal classification (CTCLoss). */
#include <math.h>

#include "../pylossfn.h"

#include "dtype_f32.h"
#include "ctc_impl.h"
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "ctc_impl.h"
#include "dtype_undef.h"
