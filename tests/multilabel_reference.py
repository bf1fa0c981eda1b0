"""Reference formulas of the multi-label losses torch lacks, written in torch
so that autograd differentiates them: torchvision's ``sigmoid_focal_loss``,
Alibaba-MIIL/ASL's ``AsymmetricLoss`` (focusing weight differentiated), Su's
``multilabel_categorical_crossentropy`` (ZLPR) and the macro soft-F1 of soft
counts.  Element-wise (per-sample for ZLPR, per-class for soft-F1): the caller
reduces.  Shared by test_multilabel and the reliability tables (loss_table).
"""
import torch
import torch.nn.functional as TF


def ref_focal(x, y, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = TF.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss


def ref_asl(x, y, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8, factored=False):
    # the reference class, element-wise (it returns -loss.sum()), with the
    # focusing weight left inside autograd.  factored: its base 1 - p_t written
    # as y (1 - p) + (1 - y) (1 - p_m), the same function without the
    # cancellation that rounds 1 - p_t to 0 for a tiny target and makes
    # autograd's pow derivative 0 * inf = nan there (a focusing exponent below
    # 1); the property tests' oracle for the loss
    s = torch.sigmoid(x)
    xs_pos, xs_neg = s, 1 - s
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        if factored:
            base = y * (1 - xs_pos) + (1 - y) * (1 - xs_neg)
        else:
            base = 1 - (xs_pos * y + xs_neg * (1 - y))
        loss = loss * torch.pow(base, gamma_pos * y + gamma_neg * (1 - y))
    return -loss


def ref_zlpr(x, y):
    # log(1 + sum (1 - y) e^x) + log(1 + sum y e^-x), the soft-label form
    zero = torch.zeros(x.shape[:-1] + (1,), dtype=x.dtype)
    neg = torch.logsumexp(torch.cat([zero, x + torch.log1p(-y)], -1), -1)
    pos = torch.logsumexp(torch.cat([zero, -x + torch.log(y)], -1), -1)
    return neg + pos


def ref_su(x, y):
    # Su (2020) as published, for 0/1 labels: mask with 1e12, append a 0 logit
    x = (1 - 2 * y) * x
    x_neg = x - y * 1e12
    x_pos = x - (1 - y) * 1e12
    zero = torch.zeros(x.shape[:-1] + (1,), dtype=x.dtype)
    return torch.logsumexp(torch.cat([x_neg, zero], -1), -1) + torch.logsumexp(
        torch.cat([x_pos, zero], -1), -1
    )


def ref_soft_f1(x, y, eps=1e-16):
    p = torch.sigmoid(x)
    tp = (p * y).sum(0)
    fp = (p * (1 - y)).sum(0)
    fn = ((1 - p) * y).sum(0)
    return 1 - 2 * tp / (2 * tp + fp + fn + eps)
