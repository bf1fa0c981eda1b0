/* dice.c -- Dice and Tversky losses, and the generalized Dice: overlaps of
 * probabilities (sigmoid or softmax of logits) and targets, summed over the
 * batch or per sample. */
#define LF_IMPL "dice_impl.h"
#define LF_EXPORTS(K, KV) K(double, dice, (const lf_dice *a, double *work), (a, work))
#include "variants.h"
