/*
 * methods.h -- the entry points of pylossfn._core, one line each: X(name).
 * Each is defined (LF_DEFINE) in its family's file from its spec, the one
 * description of its arguments (the element-wise regression losses are not
 * listed: their rows are their entry points, lf_rg_entries, regression.c):
 * binding.h turns the list into prototypes,
 * module.c into the method table, whose docstrings ("name(args...,
 * reduction, want, grad_output[, out])") and _core.LOSSES it derives from
 * the specs.  The uniform protocol: arrays, options, reduction, want,
 * grad_output[, out].
 */
#ifndef PYLOSSFN_METHODS_H_
#define PYLOSSFN_METHODS_H_

#define LF_METHODS(X) \
    X(bce_with_logits) \
    X(binary_cross_entropy) \
    X(poly_bce_with_logits) \
    X(cross_entropy) \
    X(nll_loss) \
    X(sigmoid) \
    X(logsigmoid) \
    X(softmax) \
    X(log_softmax) \
    X(sigmoid_focal_loss) \
    X(asymmetric_loss) \
    X(multilabel_categorical_crossentropy) \
    X(soft_f1_loss) \
    X(dice_loss) \
    X(generalized_dice_loss) \
    X(pairwise_distance) \
    X(cosine_similarity) \
    X(cosine_embedding_loss) \
    X(triplet_margin_loss) \
    X(triplet_margin_with_distance_loss) \
    X(multi_margin_loss) \
    X(multilabel_margin_loss) \
    X(ctc_loss) \
    X(poly_cross_entropy) \
    X(distillation_loss) \
    X(sparsemax) \
    X(sparsemax_loss)

/* The engine's settings, test hooks and the fused heads' tile kernels (private
 * building blocks that pylossfn.functional calls per tile):
 * X(name, Python name, flags, doc). */
#define LF_ENGINE_METHODS(X)                                                                 \
    X(set_converter, "_set_converter", METH_O,                                               \
      "_set_converter(fn): fn(obj, fname, arg) -> ndarray converts the non-ndarray arguments") \
    X(set_num_threads, "set_num_threads", METH_O,                                            \
      "set_num_threads(n): threads the kernels may use; returns the count in effect")        \
    X(get_num_threads, "get_num_threads", METH_NOARGS, "get_num_threads()")                  \
    X(set_isa, "_set_isa", METH_O, "_set_isa(level): kernel variant (tests)")                \
    X(build_info, "_build_info", METH_NOARGS, "_build_info(): numpy_build, compiler, isa")   \
    X(vecmath, "_vecmath", METH_FASTCALL,                                                    \
      "_vecmath(x, f): the engine's exp / log / log1p (tests)")                              \
    X(lce_tile, "_lce_tile", METH_FASTCALL,                                                  \
      "_lce_tile(tile, c0, C, target, probs, weight, wsum, ignore_index, label_smoothing, "    \
      "mode, grad, m, s, a, b, lse, rowscale): one tile of linear_cross_entropy (binding/linear.c)") \
    X(lbce_tile, "_lbce_tile", METH_FASTCALL,                                                \
      "_lbce_tile(tile, c0, C, pos, pos_weight, loss, out, rowscale, go, grad): one tile of "  \
      "linear_binary_cross_entropy_with_logits (binding/linear.c)")

#endif /* PYLOSSFN_METHODS_H_ */
