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
    X(soft_f1_loss, "soft_f1_loss(input, target, eps, reduction, want, grad_output[, out])")

#endif /* PYLOSSFN_METHODS_H_ */
