/*
 * methods.h -- the entry points of pylossfn._core, one line each:
 * X(name, docstring).  module.c turns the list into the method table and
 * binding.h into prototypes; each is defined (LF_DEFINE) in its family's
 * file.  The uniform protocol: arrays, options, reduction, want,
 * grad_output[, out].
 */
#ifndef PYLOSSFN_METHODS_H_
#define PYLOSSFN_METHODS_H_

#define LF_METHODS(X)                                                                        \
    X(binary_cross_entropy,                                                                  \
      "binary_cross_entropy(input, target, weight, reduction, want, grad_output[, out])")    \
    X(bce_with_logits, "bce_with_logits(input, target, weight, pos_weight, reduction, want, " \
                       "grad_output[, out])")                                        \
    X(nll_loss, "nll_loss(input, target, weight, ignore_index, reduction, want, "              \
                "grad_output[, out])")                                                         \
    X(cross_entropy, "cross_entropy(input, target, weight, ignore_index, label_smoothing, "     \
                     "reduction, want, grad_output[, out])")                                   \
    X(sigmoid, "sigmoid(input)")                                                               \
    X(logsigmoid, "logsigmoid(input)")                                                         \
    X(softmax, "softmax(input, dim)")                                                          \
    X(log_softmax, "log_softmax(input, dim)")                                                  \
    X(sigmoid_focal_loss, "sigmoid_focal_loss(input, target, alpha, gamma, reduction, want, "   \
                          "grad_output[, out])")                                               \
    X(asymmetric_loss, "asymmetric_loss(input, target, gamma_neg, gamma_pos, clip, eps, "       \
                       "reduction, want, grad_output[, out])")                                 \
    X(multilabel_categorical_crossentropy,                                                     \
      "multilabel_categorical_crossentropy(input, target, reduction, want, grad_output[, out])") \
    X(soft_f1_loss, "soft_f1_loss(input, target, eps, reduction, want, grad_output[, out])")  \
    X(l1_loss, "l1_loss(input, target, weight, reduction, want, grad_output[, out])")         \
    X(mse_loss, "mse_loss(input, target, weight, reduction, want, grad_output[, out])")       \
    X(smooth_l1_loss, "smooth_l1_loss(input, target, beta, reduction, want, grad_output[, out])") \
    X(huber_loss,                                                                              \
      "huber_loss(input, target, weight, delta, reduction, want, grad_output[, out])")         \
    X(soft_margin_loss, "soft_margin_loss(input, target, reduction, want, grad_output[, out])") \
    X(kl_div, "kl_div(input, target, log_target, reduction, want, grad_output[, out])")       \
    X(poisson_nll_loss, "poisson_nll_loss(input, target, log_input, full, eps, reduction, "     \
                        "want, grad_output[, out])")                                           \
    X(gaussian_nll_loss, "gaussian_nll_loss(input, target, var, full, eps, reduction, want, "   \
                         "grad_output[, out])")                                                \
    X(hinge_embedding_loss, "hinge_embedding_loss(input, target, margin, reduction, want, "     \
                            "grad_output[, out])")                                             \
    X(margin_ranking_loss, "margin_ranking_loss(input1, input2, target, margin, reduction, "    \
                           "want, grad_output[, out])")                                        \
    X(multilabel_soft_margin_loss, "multilabel_soft_margin_loss(input, target, weight, "        \
                                   "reduction, want, grad_output[, out])")                    \
    X(pairwise_distance, "pairwise_distance(x1, x2, p, eps, keepdim)")                          \
    X(cosine_similarity, "cosine_similarity(x1, x2, dim, eps)")                                 \
    X(cosine_embedding_loss, "cosine_embedding_loss(input1, input2, target, margin, reduction, " \
                             "want, grad_output[, out])")                                      \
    X(triplet_margin_loss, "triplet_margin_loss(anchor, positive, negative, margin, p, eps, "   \
                           "swap, reduction, want, grad_output[, out])")                       \
    X(triplet_margin_with_distance_loss,                                                       \
      "triplet_margin_with_distance_loss(anchor, positive, negative, margin, p, eps, swap, "    \
      "distance, reduction, want, grad_output[, out])")                                      \
    X(multi_margin_loss, "multi_margin_loss(input, target, weight, p, margin, reduction, want, " \
                         "grad_output[, out])")                                                \
    X(multilabel_margin_loss,                                                                  \
      "multilabel_margin_loss(input, target, reduction, want, grad_output[, out])")           \
    X(ctc_loss, "ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, "           \
                "zero_infinity, reduction, want, grad_output[, out])")

/* The engine's settings, test hooks and the fused heads' tile kernels (private
 * building blocks that pylossfn.functional calls per tile):
 * X(name, Python name, flags, doc). */
#define LF_ENGINE_METHODS(X)                                                                 \
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
