/*
 * variants.h -- instantiates the kernel body LF_IMPL (a *_impl.h file) once
 * per instruction set (see isa_begin.h) and dtype (dtype_f32.h / dtype_f64.h).
 * A family file defines LF_IMPL, includes this, then includes dispatch.h.
 */
#ifndef LF_IMPL
#error "define LF_IMPL as the family's *_impl.h before including variants.h"
#endif

#if LF_HAVE_ISA_VARIANTS
#define LF_ISA 2
#include "isa_begin.h"
#include "vecmath.h"
#include "dtype_f32.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "dtype_f64.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "isa_end.h"

#define LF_ISA 1
#include "isa_begin.h"
#include "vecmath.h"
#include "dtype_f32.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "dtype_f64.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "isa_end.h"
#endif

#define LF_ISA 0
#include "isa_begin.h"
#include "vecmath.h"
#include "dtype_f32.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "dtype_f64.h"
#include LF_IMPL
#include "dtype_undef.h"
#include "isa_end.h"

#undef LF_IMPL
