/* variant.h -- one instruction set's instance (LF_ISA) of a family: the
 * vector math, then the shared helpers and the body once per dtype.  Only
 * variants.h includes it. */
#include "isa_begin.h"
#include "vecmath.h"

#include "dtype_f32.h"
#include "common_impl.h"
#include LF_IMPL
#include "dtype_undef.h"

#include "dtype_f64.h"
#include "common_impl.h"
#include LF_IMPL
#include "dtype_undef.h"

#include "isa_end.h"
