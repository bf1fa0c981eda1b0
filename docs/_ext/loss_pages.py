r"""The sections of every loss class's page, as torch.nn's pages have them, and more.

autodoc gives each class its docstring (the prose, the shapes, an example that the
doctest build runs); this extension adds, from the tables below and the class itself:

- **Formula**: the per-sample loss, its gradient and the diagonal of its Hessian
  as rendered math (:data:`FORMULAS`; the library gives all three, so the page does);
- **Parameters**: every constructor argument with its default, read from the
  signature, described by :data:`PARAMS` (one text per option name, shared by the
  losses that take it; ``"Class.name"`` overrides).  A constructor argument without
  a description fails the build, so a new option cannot ship undocumented;
- **Returns**: the value of a call per ``reduction`` and what ``backward`` gives
  (one gradient, or a tuple for the losses with several differentiable inputs,
  read from the class's generic base ``Loss[...]``);
- **See also**: the function of :mod:`pylossfn.functional` that computes the same
  loss (the class's row of the core's table, ``_row``) and the losses of the same family (the
  row's ``"family"``, its section of the API page).

It also keeps the pages honest about inheritance: the methods a loss inherits
from :class:`pylossfn.Loss` are summarized on its page and link to the base
class's full text, whose examples use their own losses; and signatures show a
dtype default as ``np.float32``, not ``<class 'numpy.float32'>``.
"""
from __future__ import annotations

import inspect
import re
import typing
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

import pylossfn
import pylossfn.functional
from pylossfn import _rows

# -- the formulas -----------------------------------------------------------------
# x the input (logits, probabilities or predictions), y the target, w a weight;
# sigma the logistic sigmoid; per element unless said.  Each entry: the loss, the
# gradient, the Hessian's diagonal (each a LaTeX line; "where" explains symbols).
FORMULAS: dict[str, dict[str, str]] = {
    "BCELoss": {
        "loss": r"\ell = -w\,\bigl[y \log x + (1 - y) \log(1 - x)\bigr]"
                r"\quad(\text{each log clamped at } {-100})",
        "grad": r"\frac{\partial \ell}{\partial x} = w\,\frac{x - y}{\max\bigl(x (1 - x),\,10^{-12}\bigr)}",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = w\,\Bigl[\frac{y}{x^2} + \frac{1 - y}{(1 - x)^2}\Bigr]",
        "where": r":math:`w` is ``weight``; with ``label_smoothing`` :math:`\varepsilon` the target "
                 r"is :math:`y (1 - \varepsilon) + \varepsilon / 2`.",
    },
    "BCEWithLogitsLoss": {
        "loss": r"\ell = w\,\bigl[(1 - y)\,x + \bigl(1 + (p_w - 1)\,y\bigr)\,"
                r"\operatorname{softplus}(-x)\bigr]",
        "grad": r"\frac{\partial \ell}{\partial x} = w\,\bigl[\bigl(1 + (p_w - 1)\,y\bigr)\,\sigma(x)"
                r" - p_w\,y\bigr]",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = w\,\bigl(1 + (p_w - 1)\,y\bigr)\,"
                r"\sigma(x)\,\bigl(1 - \sigma(x)\bigr)",
        "where": r":math:`p_w` is ``pos_weight`` (1 when not given), :math:`w` is ``weight``; "
                 r"with ``label_smoothing`` :math:`\varepsilon` the target is "
                 r":math:`y (1 - \varepsilon) + \varepsilon / 2`.",
    },
    "PolyBCEWithLogitsLoss": {
        "loss": r"\ell = w\,\bigl[(1 - y)\,x + \bigl(1 + (p_w - 1)\,y\bigr)\,"
                r"\operatorname{softplus}(-x) + \epsilon\,(1 - p_t)\bigr],"
                r"\qquad 1 - p_t = \sigma(x)\,(1 - y) + \sigma(-x)\,y",
        "grad": r"\frac{\partial \ell}{\partial x} = w\,\bigl[\bigl(1 + (p_w - 1)\,y\bigr)\,\sigma(x)"
                r" - p_w\,y + \epsilon\,\sigma(x)\,\sigma(-x)\,(1 - 2y)\bigr]",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = w\,\sigma(x)\,\sigma(-x)\,"
                r"\bigl[1 + (p_w - 1)\,y + \epsilon\,(1 - 2y)\,\bigl(\sigma(-x) - \sigma(x)\bigr)\bigr]",
        "where": r":math:`p_t` is the probability the sigmoid gives the target, :math:`\epsilon` is "
                 r"``epsilon``, :math:`p_w` is ``pos_weight`` (1 when not given), :math:`w` is "
                 r"``weight`` (Leng et al., ICLR 2022).",
    },
    "CrossEntropyLoss": {
        "loss": r"\ell_n = -(1 - \varepsilon)\,w_{t}\,\log p_{t}"
                r" - \frac{\varepsilon}{C} \sum_{c} w_c \log p_c,"
                r"\qquad p = \operatorname{softmax}(x_n)",
        "grad": r"\frac{\partial \ell_n}{\partial x_{c}} = (1 - \varepsilon)\,w_{t}\,(p_c - [c = t])"
                r" + \frac{\varepsilon}{C}\Bigl(p_c \sum_k w_k - w_c\Bigr)",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = \Bigl((1 - \varepsilon)\,w_{t}"
                r" + \frac{\varepsilon}{C} \sum_k w_k\Bigr)\,p_c\,(1 - p_c)",
        "where": r":math:`t` is the sample's class, :math:`\varepsilon` is ``label_smoothing``, "
                 r":math:`w` is ``weight`` (all 1 when not given); " '``"mean"`` divides the sum '
                 r"by :math:`\sum_n w_{t_n}` over the samples whose target is not ``ignore_index``.",
    },
    "NLLLoss": {
        "loss": r"\ell_n = -w_{t}\,x_{n,t}",
        "grad": r"\frac{\partial \ell_n}{\partial x_{n,c}} = -w_{t}\,[c = t]",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_{n,c}^2} = 0",
        "where": '``"mean"`` divides the sum by' r" :math:`\sum_n w_{t_n}` over the samples "
                 r"whose target is not ``ignore_index``.",
    },
    "MultiLabelSoftMarginLoss": {
        "loss": r"\ell_n = \frac{1}{C} \sum_c w_c\,\bigl[\operatorname{softplus}(-x_c)"
                r" + (1 - y_c)\,x_c\bigr]",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = \frac{w_c}{C}\,\bigl(\sigma(x_c) - y_c\bigr)",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = \frac{w_c}{C}\,\sigma(x_c)\,"
                r"\bigl(1 - \sigma(x_c)\bigr)",
    },
    "L1Loss": {
        "loss": r"\ell = |x - y|",
        "grad": r"\frac{\partial \ell}{\partial x} = \operatorname{sign}(x - y)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = 0",
    },
    "MSELoss": {
        "loss": r"\ell = (x - y)^2",
        "grad": r"\frac{\partial \ell}{\partial x} = 2\,(x - y)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = 2",
    },
    "SmoothL1Loss": {
        "loss": r"\ell = \begin{cases} \tfrac12 d^2 / \beta & |d| < \beta \\"
                r" |d| - \tfrac12 \beta & \text{otherwise} \end{cases}\qquad d = x - y",
        "grad": r"\frac{\partial \ell}{\partial x} = \operatorname{clip}(d / \beta,\,-1,\,1)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = \frac{[\,|d| < \beta\,]}{\beta}",
    },
    "LogCoshLoss": {
        "loss": r"\ell = \log\cosh d = |d| + \log\bigl(1 + e^{-2|d|}\bigr) - \log 2,"
                r"\qquad d = x - y",
        "grad": r"\frac{\partial \ell}{\partial x} = \tanh d",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = 1 - \tanh^2 d",
    },
    "HuberLoss": {
        "loss": r"\ell = \begin{cases} \tfrac12 d^2 & |d| < \delta \\"
                r" \delta\,(|d| - \tfrac12 \delta) & \text{otherwise} \end{cases}\qquad d = x - y",
        "grad": r"\frac{\partial \ell}{\partial x} = \operatorname{clip}(d,\,-\delta,\,\delta)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = [\,|d| < \delta\,]",
    },
    "SoftMarginLoss": {
        "loss": r"\ell = \log\bigl(1 + e^{-y x}\bigr),\qquad y \in \{-1, 1\}",
        "grad": r"\frac{\partial \ell}{\partial x} = -y\,\sigma(-y x)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = y^2\,\sigma(y x)\,\sigma(-y x)",
    },
    "PoissonNLLLoss": {
        "loss": r"\ell = e^{x} - y\,x \;\;(\texttt{log\_input}),\qquad "
                r"\ell = x - y \log(x + \epsilon) \;\;(\text{otherwise})",
        "grad": r"\frac{\partial \ell}{\partial x} = e^{x} - y,\qquad "
                r"\frac{\partial \ell}{\partial x} = 1 - \frac{y}{x + \epsilon}",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = e^{x},\qquad "
                r"\frac{\partial^2 \ell}{\partial x^2} = \frac{y}{(x + \epsilon)^2}",
        "where": r"``full=True`` adds Stirling's term :math:`y \log y - y + \tfrac12 \log(2\pi y)` "
                 r"where :math:`y > 1` (constant in :math:`x`).",
    },
    "GaussianNLLLoss": {
        "loss": r"\ell = \tfrac12\Bigl(\log v + \frac{(x - y)^2}{v}\Bigr),\qquad "
                r"v = \max(\mathrm{var},\,\epsilon)",
        "grad": r"\frac{\partial \ell}{\partial x} = \frac{x - y}{v},\qquad "
                r"\frac{\partial \ell}{\partial v} = \frac12\Bigl(\frac1v - \frac{(x - y)^2}{v^2}\Bigr)",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = \frac1v,\qquad "
                r"\frac{\partial^2 \ell}{\partial v^2} = \frac{(x - y)^2}{v^3} - \frac{1}{2 v^2}",
        "where": r"``full=True`` adds :math:`\tfrac12 \log 2\pi`.  Where ``var`` < ``eps`` the "
                 r"terms in :math:`v` are 0 (torch's clamp is outside autograd).",
    },
    "KLDivLoss": {
        "loss": r"\ell = y\,(\log y - x)\;\;(0 \text{ where } y = 0),\qquad "
                r"\ell = e^{y}\,(y - x)\;\;(\texttt{log\_target})",
        "grad": r"\frac{\partial \ell}{\partial x} = -y,\qquad "
                r"\frac{\partial \ell}{\partial x} = -e^{y}",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = 0",
    },
    "HingeEmbeddingLoss": {
        "loss": r"\ell = \begin{cases} x & y = 1 \\ \max(0,\,m - x) & y = -1 \end{cases}",
        "grad": r"\frac{\partial \ell}{\partial x} = \begin{cases} 1 & y = 1 \\"
                r" -[\,x \le m\,] & y = -1 \end{cases}",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = 0",
        "where": r":math:`m` is ``margin``.",
    },
    "MarginRankingLoss": {
        "loss": r"\ell = \max\bigl(0,\,-y\,(x_1 - x_2) + m\bigr)",
        "grad": r"\Bigl(\frac{\partial \ell}{\partial x_1},\,\frac{\partial \ell}{\partial x_2}\Bigr)"
                r" = (-y,\,y)\,\bigl[-y\,(x_1 - x_2) + m \ge 0\bigr]",
        "hess": r"\frac{\partial^2 \ell}{\partial x_1^2} = \frac{\partial^2 \ell}{\partial x_2^2} = 0",
        "where": r":math:`m` is ``margin``.",
    },
    "SigmoidFocalLoss": {
        "loss": r"\ell = \alpha_t\,(1 - p_t)^{\gamma}\,\mathrm{ce},\qquad "
                r"\mathrm{ce} = \operatorname{BCEWithLogits}(x, y)",
        "grad": r"\frac{\partial \ell}{\partial x} = \alpha_t\Bigl[(p - y)\,(1 - p_t)^{\gamma}"
                r" + \gamma\,\mathrm{ce}\,(1 - p_t)^{\gamma - 1}\,p\,(1 - p)\,(1 - 2y)\Bigr]",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = \alpha_t\,p_t\,(1 - p_t)^{\gamma}"
                r"\Bigl[(1 + 2\gamma)(1 - p_t) + \gamma\,\mathrm{ce}\,"
                r"\bigl(\gamma\,p_t - (1 - p_t)\bigr)\Bigr]\quad(y \in \{0, 1\})",
        "where": r":math:`p = \sigma(x)`, :math:`p_t = p\,y + (1 - p)(1 - y)`, "
                 r":math:`\alpha_t = \alpha\,y + (1 - \alpha)(1 - y)` (1 when ``alpha`` < 0).",
    },
    "AsymmetricLoss": {
        "loss": r"\ell = \begin{cases} -(1 - p)^{\gamma_+} \log p & y = 1 \\"
                r" -r^{\gamma_-} \log(1 - r),\;\; r = \max(p - m,\,0) & y = 0 \end{cases}",
        "grad": r"\frac{\partial \ell}{\partial x} = \begin{cases} (1 - p)^{\gamma_+}"
                r"\bigl[\gamma_+ p \log p - (1 - p)\bigr] & y = 1 \\"
                r" p\,(1 - p)\,\ell'(r) & y = 0 \end{cases}",
        "hess": r"\frac{\partial^2 \ell}{\partial x^2} = \begin{cases} p\,(1 - p)^{\gamma_+}"
                r"\bigl[(1 + 2\gamma_+)(1 - p) - \gamma_+ \log p\,(\gamma_+ p - (1 - p))\bigr]"
                r" & y = 1 \\ p (1 - p)(1 - 2p)\,\ell'(r) + p^2 (1 - p)^2\,\ell''(r) & y = 0"
                r" \end{cases}",
        "where": r":math:`p = \sigma(x)`, :math:`m` is ``clip``, :math:`\gamma_\pm` are "
                 r"``gamma_pos`` and ``gamma_neg``; :math:`\ell'(r)` and :math:`\ell''(r)` are "
                 r"the derivatives of :math:`-r^{\gamma_-}\log(1 - r)` in :math:`r` (0 where "
                 r":math:`p \le m`); each log's argument is clamped at ``eps``.  Soft labels mix "
                 r"the two cases linearly.",
    },
    "ZLPRLoss": {
        "loss": r"\ell_n = \log\Bigl(1 + \sum_c (1 - y_c)\,e^{s_c}\Bigr)"
                r" + \log\Bigl(1 + \sum_c y_c\,e^{-s_c}\Bigr)",
        "grad": r"\frac{\partial \ell_n}{\partial s_c} = a_c - b_c,\qquad "
                r"a_c = \frac{(1 - y_c)\,e^{s_c}}{1 + \sum_k (1 - y_k)\,e^{s_k}},\quad "
                r"b_c = \frac{y_c\,e^{-s_c}}{1 + \sum_k y_k\,e^{-s_k}}",
        "hess": r"\frac{\partial^2 \ell_n}{\partial s_c^2} = a_c\,(1 - a_c) + b_c\,(1 - b_c)",
        "where": r"The labels of a sample are coupled: ``hvp`` gives the full Hessian's product.",
    },
    "SoftF1Loss": {
        "loss": r"\ell_c = 1 - \frac{2\,\mathrm{TP}_c}{B_c},\qquad "
                r"B_c = 2\,\mathrm{TP}_c + \mathrm{FP}_c + \mathrm{FN}_c + \epsilon"
                r" = \sum_n p_{nc} + \sum_n y_{nc} + \epsilon",
        "grad": r"\frac{\partial \ell_c}{\partial x_{nc}} = p\,(1 - p)\,"
                r"\frac{2\,(\mathrm{TP}_c - y_{nc} B_c)}{B_c^2}",
        "hess": r"\frac{\partial^2 \ell_c}{\partial x_{nc}^2} = p\,(1 - p)\,"
                r"\frac{2\,(\mathrm{TP}_c - y_{nc} B_c)}{B_c^2}\Bigl[1 - 2p"
                r" - \frac{2\,p\,(1 - p)}{B_c}\Bigr]",
        "where": r":math:`p = \sigma(x_{nc})`; :math:`\mathrm{TP}_c = \sum_n p\,y`, "
                 r":math:`\mathrm{FP}_c = \sum_n p\,(1 - y)`, :math:`\mathrm{FN}_c = \sum_n (1 - p)\,y` "
                 r"over the batch, which couples its samples (``hvp`` gives the full product).",
    },
    "DiceLoss": {
        "loss": r"\ell_c = 1 - \frac{I_c + s}{D_c},\qquad "
                r"D_c = I_c + \alpha\,(P_c - I_c) + \beta\,(T_c - I_c) + s",
        "grad": r"\frac{\partial \ell_c}{\partial p_i} = r_i = "
                r"\frac{(I_c + s)\,e_i - y_i D_c}{D_c^2},\qquad e_i = (1 - \alpha - \beta)\,y_i"
                r" + \alpha;\quad \frac{\partial \ell}{\partial x_i} = r_i\,p_i (1 - p_i)"
                r"\ \text{(sigmoid)},\ p_i\,\bigl(r_i - \textstyle\sum_k p_k r_k\bigr)"
                r"\ \text{(softmax over the classes)}",
        "hess": r"\frac{\partial^2 \ell_c}{\partial p_i^2} = h_i = \frac{2\,y_i e_i}{D_c^2}"
                r" - \frac{2\,(I_c + s)\,e_i^2}{D_c^3};\quad "
                r"\frac{\partial^2 \ell}{\partial x_i^2} = h_i q_i^2 + r_i q_i (1 - 2 p_i),\ "
                r"q_i = p_i (1 - p_i)\ \text{(sigmoid)};\ "
                r"p_i^2 \bigl(h_i (1 - 2 p_i) + \textstyle\sum_k h_k p_k^2\bigr)"
                r" + (1 - 2 p_i)\,\frac{\partial \ell}{\partial x_i}\ \text{(softmax)}",
        "where": r":math:`p` the probabilities (sigmoid, or softmax over axis 1 for "
                 r'``mode="multiclass"``), :math:`y` the target (one-hot for class indices), '
                 r":math:`s` ``smooth``; :math:`I_c = \sum p\,y`, :math:`P_c = \sum p`, "
                 r":math:`T_c = \sum y` over the batch and spatial axes (the spatial axes "
                 r"of each sample with ``per_sample``), which couples the elements "
                 r"(``hvp`` gives the full product); times ``weight[c]``.",
    },
    "GeneralizedDiceLoss": {
        "loss": r"\ell_c = w_c \Bigl(1 - \frac{2\,(I_c + s)}{P_c + T_c + 2 s}\Bigr),\qquad "
                r"w_c = \frac{C\,/\,(T_c^2 + 10^{-7})}{\sum_k 1 / (T_k^2 + 10^{-7})}",
        "grad": r"\frac{\partial \ell}{\partial x_i} = p_i\,\bigl(r_i - \textstyle\sum_k p_k r_k"
                r"\bigr),\qquad r_i = w_c\,\frac{(I_c + s) - 2\,y_i D_c}{2\,D_c^2},\ "
                r"D_c = \tfrac{1}{2}(P_c + T_c) + s",
        "hess": r"p_i^2 \bigl(h_i (1 - 2 p_i) + \textstyle\sum_k h_k p_k^2\bigr)"
                r" + (1 - 2 p_i)\,\frac{\partial \ell}{\partial x_i},\qquad "
                r"h_i = w_c \Bigl(\frac{y_i}{D_c^2} - \frac{I_c + s}{2\,D_c^3}\Bigr)",
        "where": r":math:`p = \operatorname{softmax}(x)` over axis 1, :math:`s` ``smooth``; "
                 r"the weights come from the target's sums :math:`T_c` over the whole batch "
                 r"(also with ``per_sample``) and are constants of the gradient.",
    },
    "CosineEmbeddingLoss": {
        "loss": r"\ell = \begin{cases} 1 - \cos & y = 1 \\ \max(0,\,\cos - m) & y = -1"
                r" \end{cases},\qquad \cos = \frac{x_1 \cdot x_2}{\sqrt{n_1 n_2}},\;\;"
                r"n_i = \lVert x_i \rVert^2 + e",
        "grad": r"\frac{\partial \cos}{\partial x_{1}} = \frac{x_{2}}{\sqrt{n_1 n_2}}"
                r" - \cos\,\frac{x_{1}}{n_1}"
                r"\quad(\partial \ell = -\partial\cos \text{ for } y = 1,\;"
                r"+\partial\cos \text{ where the hinge is active})",
        "hess": r"\frac{\partial^2 \cos}{\partial x_{1i}^2} = -\frac{x_{1i}\,x_{2i}}{n_1 \sqrt{n_1 n_2}}"
                r" - \frac{x_{1i}}{n_1}\frac{\partial \cos}{\partial x_{1i}} - \frac{\cos}{n_1}"
                r" + \frac{2 \cos\,x_{1i}^2}{n_1^2}",
        "where": r":math:`m` is ``margin``, :math:`e = 10^{-12}`; the terms of :math:`x_2` swap "
                 r"the indices.",
    },
    "TripletMarginLoss": {
        "loss": r"\ell = \max\bigl(0,\,m + d(a, p) - d(a, n)\bigr),\qquad "
                r"d(u, v) = \lVert u - v + \epsilon \rVert_p",
        "grad": r"\frac{\partial \ell}{\partial a} = \nabla d(a, p) - \nabla d(a, n),\qquad "
                r"\nabla_u \lVert w \rVert_2 = \frac{w}{\lVert w \rVert_2}\;\;(w = u - v + \epsilon)",
        "hess": r"\frac{\partial^2 \ell}{\partial a_i^2} = \frac{d_{ap}^2 - w_{ap,i}^2}{d_{ap}^3}"
                r" - \frac{d_{an}^2 - w_{an,i}^2}{d_{an}^3}\quad(p = 2)",
        "where": r":math:`m` is ``margin``; where the hinge is active, else 0.  The positive and "
                 r"negative take their own terms with the sign of their distance; with ``swap``, "
                 r":math:`d(a, n)` is :math:`\min(d(a, n), d(p, n))`.",
    },
    "TripletMarginWithDistanceLoss": {
        "loss": r"\ell = \max\bigl(0,\,m + d(a, p) - d(a, n)\bigr)",
        "grad": r"\frac{\partial \ell}{\partial a} = \nabla_a d(a, p) - \nabla_a d(a, n)",
        "hess": r"\frac{\partial^2 \ell}{\partial a_i^2} = \partial_{a_i}^2 d(a, p)"
                r" - \partial_{a_i}^2 d(a, n)",
        "where": r":math:`d` is ``distance_function``, :math:`m` is ``margin``; where the hinge is "
                 r"active, else 0.",
    },
    "MultiMarginLoss": {
        "loss": r"\ell_n = \frac{1}{C} \sum_{c \ne t} w_t \max(0,\,z_c)^{p},\qquad "
                r"z_c = m - x_t + x_c",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = \frac{w_t}{C}\,p\,z_c^{p - 1}\,[z_c > 0],"
                r"\qquad \frac{\partial \ell_n}{\partial x_t} = -\sum_{c \ne t}"
                r" \frac{\partial \ell_n}{\partial x_c}",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = \frac{2 w_t}{C}\,[p = 2]\,[z_c > 0],"
                r"\qquad \frac{\partial^2 \ell_n}{\partial x_t^2} = \frac{2 w_t}{C}\,[p = 2]"
                r" \sum_{c \ne t} [z_c > 0]",
        "where": r":math:`t` is the sample's class, :math:`m` is ``margin``, :math:`p` is ``p`` "
                 r"(1 or 2).",
    },
    "MultiLabelMarginLoss": {
        "loss": r"\ell_n = \frac{1}{C} \sum_{j \in J} \sum_{c \notin J} \max(0,\,1 - x_j + x_c)",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = \frac{1}{C} \sum_{j \in J} [1 - x_j + x_c > 0],"
                r"\qquad \frac{\partial \ell_n}{\partial x_j} = -\frac{1}{C} \sum_{c \notin J}"
                r" [1 - x_j + x_c > 0]",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x^2} = 0",
        "where": r":math:`J` is the sample's set of labels (its target up to the first -1).",
    },
    "CTCLoss": {
        "loss": r"\ell_n = -\log \sum_{\pi \in \mathcal{B}^{-1}(y_n)} \prod_t e^{x_{t, \pi_t}}",
        "grad": r"\frac{\partial \ell_n}{\partial x_{t,k}} = e^{x_{t,k}} - \frac{1}{e^{x_{t,k}}\,P_n}"
                r" \sum_{s : l'_s = k} \alpha_t(s)\,\beta_t(s)",
        "hess": r"\text{none: } \texttt{hessian()} \text{ and } \texttt{hvp()} \text{ raise }"
                r" \texttt{NotImplementedError}",
        "where": r":math:`x` holds log-probabilities; :math:`\mathcal{B}^{-1}(y_n)` are the "
                 r"alignments of the target, :math:`l'` the target with blanks between and around "
                 r"its labels, :math:`\alpha, \beta` the forward and backward variables, "
                 r":math:`P_n = e^{-\ell_n}`; torch's gradient, for logits fed through "
                 r"``log_softmax`` (whose backward cancels the :math:`e^{x}` term).",
    },
    "LinearCrossEntropyLoss": {
        "loss": r"\ell_n = \operatorname{CE}(z_n, t_n),\qquad z_n = W x_n + b",
        "grad": r"\frac{\partial \ell_n}{\partial x_n} = W^{\top} \frac{\partial \ell_n}{\partial z_n},"
                r"\qquad \frac{\partial \ell_n}{\partial W} = \frac{\partial \ell_n}{\partial z_n}"
                r" x_n^{\top}",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_{n,i}^2} = \kappa_n \Bigl[\sum_c W_{ci}^2 p_c"
                r" - \Bigl(\sum_c W_{ci}\,p_c\Bigr)^2\Bigr]",
        "where": r"CE is :class:`CrossEntropyLoss`'s term, :math:`p = \operatorname{softmax}(z_n)`, "
                 r":math:`\kappa_n = (1 - \varepsilon)\,w_{t_n} + \tfrac{\varepsilon}{C} \sum_k w_k`; "
                 r"the logits :math:`z` are computed tile by tile, never whole.",
    },
    "LinearBCEWithLogitsLoss": {
        "loss": r"\ell_{nc} = \operatorname{BCEWithLogits}(z_{nc}, Y_{nc}),\qquad z_n = W x_n + b",
        "grad": r"\frac{\partial \ell}{\partial x_n} = W^{\top} g_n,\qquad g_{nc} = "
                r"\bigl(1 + (p_{w,c} - 1)\,Y_{nc}\bigr)\,\sigma(z_{nc}) - p_{w,c}\,Y_{nc}",
        "hess": r"\frac{\partial^2 \ell}{\partial x_{n,i}^2} = \sum_c W_{ci}^2\,"
                r"\bigl(1 + (p_{w,c} - 1)\,Y_{nc}\bigr)\,\sigma(z_{nc})\,\bigl(1 - \sigma(z_{nc})\bigr)",
        "where": r":math:`Y` is the multi-hot matrix the padded index lists imply, :math:`p_w` is "
                 r"``pos_weight``; " '``"mean"`` divides by' r" :math:`N C`.",
    },
    "PolyCrossEntropyLoss": {
        "loss": r"\ell_n = \operatorname{CE}(x_n, t) + \epsilon\,w_{t}\,(1 - p_{y}),\qquad "
                r"p_{y} = \sum_c y_c\,p_c,\;\; p = \operatorname{softmax}(x_n)",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = \frac{\partial \operatorname{CE}}"
                r"{\partial x_c} - \epsilon\,w_{t}\,p_c\,(y_c - p_{y})",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = \kappa\,p_c\,(1 - p_c)"
                r" - \epsilon\,w_{t}\,p_c\,(y_c - p_{y})\,(1 - 2 p_c)",
        "where": r"CE is :class:`CrossEntropyLoss`'s term (``weight``, ``label_smoothing``), "
                 r":math:`y` the one-hot target (or the class probabilities, with :math:`w_t = 1`), "
                 r":math:`\epsilon` is ``epsilon``, :math:`\kappa` the summed weight of the "
                 r"smoothed target; the classes of a sample are coupled (``hvp`` gives the full "
                 r"product).  " '``"mean"`` divides as :class:`CrossEntropyLoss` does.',
    },
    "DistillationLoss": {
        "loss": r"\ell_{nc} = T^2\,q_c\,(\log q_c - \log p_c),\qquad "
                r"q = \operatorname{softmax}(y_n / T),\;\; p = \operatorname{softmax}(x_n / T)",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = T\,(p_c - q_c)",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = p_c\,(1 - p_c)",
        "where": r":math:`x` are the student's logits, :math:`y` the teacher's (no gradient), "
                 r":math:`T` is ``temperature``; " '``"batchmean"`` divides the sum by N, '
                 '``"mean"`` by N C.  The classes of a sample are coupled (``hvp``).',
    },
    "SparsemaxLoss": {
        "loss": r"\ell_n = \sum_c p_c\,(x_c - x_t) + \tfrac12\bigl(1 - \lVert p \rVert^2\bigr),"
                r"\qquad p = \operatorname{sparsemax}(x_n)",
        "grad": r"\frac{\partial \ell_n}{\partial x_c} = p_c - [c = t]",
        "hess": r"\frac{\partial^2 \ell_n}{\partial x_c^2} = [p_c > 0]\,\Bigl(1 - \frac{1}{|S|}\Bigr)",
        "where": r":math:`t` is the sample's class, :math:`S` the support of :math:`p` (the "
                 r"Hessian is :math:`\operatorname{diag}(s) - s s^\top / |S|` on it).",
    },
}

# -- the output of reduction="none" ------------------------------------------------------
# From the loss's row: its "none" rule (row["dask"]["none"], the core's LF_NONE_ flags)
NONE_RULE = {
    "broadcast": "the broadcast shape of the input and the target",
    "input_target": "the broadcast shape of the input and the target",
    "classes": "the target's shape: one per sample (``[N]``), and per position for "
               "K-dimensional inputs where the loss takes them (``[N, d1, ..., dk]``)",
    "rows": "``input.shape[:-1]``: one per sample",
    "labels": "``[C]``: one term per label",
    "batch": "``[N]``: one per sample",
}
# a rule of "core" means the options decide, so the page says how (and the fused heads
# are not rows of the table: their shapes are written here)
NONE_OWN = {
    **dict.fromkeys(("DiceLoss", "GeneralizedDiceLoss"),
                    "``[C]``: one term per class (``[N, C]`` with ``per_sample``; C = 1 for "
                    '``mode="binary"``)'),
    "LinearCrossEntropyLoss": "``[N]``: one per sample",
    "LinearBCEWithLogitsLoss": "``[N, num_classes]``",
}


def none_shape(cls: type) -> str:
    """What ``reduction="none"`` returns, from the class's row of the core's table."""
    row = _rows.ROWS.get(getattr(cls, "_row", None) or "")
    rule = row["dask"]["none"] if row is not None else None
    if cls.__name__ in NONE_OWN:
        return NONE_OWN[cls.__name__]
    if rule not in NONE_RULE:
        raise ExtensionError(f"loss_pages: {cls.__name__}'s none-shape rule {rule!r} needs "
                             "its own text (NONE_OWN)")
    names = [a["name"] for a in row["args"] if a["kind"] in ("input", "real")]
    if rule == "broadcast" and len(names) > 2:
        return f"the broadcast shape of {', '.join(f'``{n}``' for n in names)}"
    return NONE_RULE[rule]


# -- the constructor arguments --------------------------------------------------------
# One description per option name; "Class.name" overrides it for one loss.
PARAMS: dict[str, str] = {
    "reduction": '``"none"`` (the loss of every element or sample), ``"mean"`` or ``"sum"`` '
                 "of them.",
    "KLDivLoss.reduction": '``"none"``, ``"mean"`` (over every element), ``"sum"``, or '
                           '``"batchmean"`` (the sum divided by ``input.shape[0]``: the true '
                           "KL divergence).",
    "weight": "a weight per class (``[C]``) for the class-index losses, otherwise an array "
              "broadcasting to the input; None means 1.",
    "pos_weight": "the weight of the positive term of each label (``[C]``, broadcasting to "
                  "the input); > 1 raises recall.  None means 1.",
    "ignore_index": "a target value that contributes nothing (neither to the loss nor to the "
                    "mean's normalizer).",
    "LinearCrossEntropyLoss.ignore_index": "as ``cross_entropy``'s; None means -100.",
    "label_smoothing": "ε in [0, 1]: the target becomes (1 - ε) one-hot + ε / C.",
    "BCELoss.label_smoothing": "ε in [0, 1]: the target y becomes y (1 - ε) + ε / 2 "
                               "(keyword-only; torch has no such option).",
    "BCEWithLogitsLoss.label_smoothing": "ε in [0, 1]: the target y becomes y (1 - ε) + ε / 2 "
                                         "(keyword-only; torch has no such option).",
    "epsilon": "the weight ε of the Poly-1 term ε (1 - p_t), finite; 0 gives "
               "``BCEWithLogitsLoss``.",
    "PolyCrossEntropyLoss.epsilon": "the coefficient of the Poly-1 term ε (1 - p_t); 0 gives "
                                    "cross-entropy, negative values are allowed.",
    "temperature": "the softmax temperature T > 0 of both the student and the teacher.",
    "DistillationLoss.reduction": '``"batchmean"`` (the default: the sum divided by N), '
                                  '``"mean"`` (over the N C terms), ``"sum"`` or ``"none"``.',
    "alpha": "the weight of the positive term, 1 - alpha that of the negative one; "
             "negative disables it.",
    "gamma": "the focusing exponent on (1 - p_t); 0 gives BCE.",
    "gamma_neg": "the focusing exponent of the negative labels.",
    "gamma_pos": "the focusing exponent of the positive labels.",
    "clip": "the probability margin that shifts the negatives (easy negatives with "
            "p < clip are discarded).",
    "eps": "a small number that keeps a log or a division finite.",
    "TripletMarginLoss.eps": "added to the difference before the norm, as torch does.",
    "GaussianNLLLoss.eps": "the lower clamp of ``var``.",
    "margin": "the margin of the hinge.",
    "p": "the norm's degree (``TripletMarginLoss``) or the hinge's power, 1 or 2 "
         "(``MultiMarginLoss``).",
    "swap": "use min(d(a, n), d(p, n)) as the negative distance (the distance swap of "
            "Balntas et al.).",
    "distance_function": "None (the Euclidean ``pairwise_distance``), "
                         "``pylossfn.functional.pairwise_distance``, "
                         "``pylossfn.functional.cosine_distance``, or a "
                         "``functools.partial`` of one of them.",
    "blank": "the class index of the blank label.",
    "zero_infinity": "replace infinite losses (impossible alignments) and their gradients "
                     "by 0.",
    "beta": "the width of the quadratic zone (0 gives L1).",
    **{f"{owner}.{name}": text for owner in ("DiceLoss", "dice_loss") for name, text in {
        "alpha": "the Tversky weight of the false positives (P - I); 0.5 with beta = 0.5 "
                 "is Dice.",
        "beta": "the Tversky weight of the false negatives (T - I).",
        "weight": "a weight per class (``[C]``) multiplying its term; None means 1.",
    }.items()},
    "mode": '``"multilabel"`` (sigmoid per class), ``"multiclass"`` (softmax over axis 1; '
            'class indices or probabilities) or ``"binary"`` (input ``[N, *]``, one class).',
    "smooth": "added to the overlap and to the denominator (>= 0): keeps empty classes "
              "finite and softens the loss.",
    "per_sample": "sum over the spatial axes of each sample (one term per sample and class, "
                  "optax's convention) instead of over the batch too.",
    "delta": "the width of the quadratic zone, > 0.",
    "log_target": "the target holds log-probabilities.",
    "log_input": "the input is the log of the rate (``exp(input)`` is the rate).",
    "full": "add the constant terms of the log-likelihood (Stirling's term, "
            "0.5 log 2π).",
    # the arrays a function takes (a class takes them when called); Shape gives their shapes
    "input": "the predictions: logits, probabilities, log-probabilities or values, as the "
             "formula says.",
    "target": "the targets: labels, class indices or values, as the formula says.",
    "input1": "the first input of each pair.",
    "input2": "the second input of each pair.",
    "anchor": "the anchors.",
    "positive": "the positive examples (to be near their anchor).",
    "negative": "the negative examples (to be far from their anchor).",
    "log_probs": "the log-probabilities of the classes at each time step (``log_softmax``).",
    "targets": "the target sequences, padded or concatenated.",
    "input_lengths": "the length of each input sequence.",
    "target_lengths": "the length of each target sequence.",
    "var": "the predicted variances (clamped at ``eps``).",
    "linear_weight": "the ``[C, D]`` weight of the linear layer.",
    "linear_bias": "the ``[C]`` bias of the linear layer, or None.",
    "in_features": "the width D of the input rows.",
    "num_classes": "the number of classes or labels C (rows of the linear layer's weight).",
    "bias": "give the linear layer a bias.",
    "dtype": "the dtype of the linear layer's parameters.",
    "chunk_size": "the number of rows (or ``(rows, classes)``) per tile of the logits that "
                  "are computed; None picks it from the cache size.",
    "seed": "the seed of ``numpy.random.default_rng`` that initializes the linear layer "
            "as ``torch.nn.Linear`` does.",
}

#: at most this many losses of the same family under "See also"
RELATED = 4


def _losses() -> dict[str, type]:
    return {
        name: obj for name in pylossfn.__all__
        if inspect.isclass(obj := getattr(pylossfn, name))
        and issubclass(obj, pylossfn.Loss) and obj is not pylossfn.Loss
    }


def _n_grads(cls: type) -> int:
    """How many gradients ``backward`` returns: from ``Loss[G]`` in the class's bases."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is pylossfn.Loss:
                (grad,) = typing.get_args(base)
                if typing.get_origin(grad) is tuple:
                    return len(typing.get_args(grad))
                return 1
    return 1


def _function(cls: type) -> str | None:
    name = getattr(cls, "_row", None)  # the row of _core.LOSSES: its function's name
    if name and hasattr(pylossfn.functional, name):
        return name
    # the fused heads: the "head" of a row of the table names the function and the class
    return next((fname for fname, row in _rows.HEADS.items()
                 if row["head"]["cls"] == cls.__name__), None)


def _default(value: Any) -> str:
    if isinstance(value, type):
        return f"np.{value.__name__}" if value.__module__ == "numpy" else value.__name__
    return repr(value)


def _param_lines(owner: str, params: list[inspect.Parameter]) -> list[str]:
    lines = []
    for p in params:
        text = PARAMS.get(f"{owner}.{p.name}") or PARAMS.get(p.name)
        if text is None:
            raise ExtensionError(
                f"loss_pages: {owner}({p.name}=...) has no description: add one to "
                f"PARAMS in docs/_ext/loss_pages.py"
            )
        default = "" if p.default is inspect.Parameter.empty else f" Default: ``{_default(p.default)}``."
        lines += [f":param {p.name}: {text}{default}"]
    return lines


def _math(tex: str) -> list[str]:
    return ["", ".. math::", "", f"   {tex}", ""]


def _formula_lines(name: str, second_order: bool) -> list[str]:
    formula = FORMULAS.get(name)
    if not formula:
        return []
    out = [".. rubric:: Formula", "", "The loss, per element or per sample:"] + _math(formula["loss"])
    if second_order:
        out += ["its gradient, which ``backward`` returns (times the reduction's scale):"]
        out += _math(formula["grad"])
        out += ["and the diagonal of its Hessian, which ``hessian`` returns:"]
        out += _math(formula["hess"])
    if "where" in formula:
        out += [formula["where"], ""]
    if not second_order:
        out += [f"Its gradient and Hessian: :class:`~pylossfn.{name}`.", ""]
    return out


#: the first item of Returns, for a class's call and for a function
_RETURNS_LOSS = ('with ``reduction="mean"`` or ``"sum"``, a NumPy scalar of the input\'s dtype; '
                 'with ``"none"``, an ndarray of the per-element or per-sample losses (see Shape).')


def _family(cls: type) -> str:
    """The family of the class's row of the core's table (its section of the API
    page); the fused heads, which have none, are their module's."""
    row = _rows.ROWS.get(getattr(cls, "_row", None) or "")
    return row["family"] if row is not None else cls.__module__


def _seealso(first: list[str], cls: type) -> list[str]:
    related = [
        other for other, ocls in _losses().items()
        if _family(ocls) == _family(cls) and other != cls.__name__
    ][:RELATED]
    refs = first + [f":class:`~pylossfn.{other}`" for other in related]
    return [".. seealso::", "", "   " + ", ".join(refs) + "; the methods of "
            ":class:`~pylossfn.Loss`.", ""]


def sections(cls: type, shape: list[str]) -> list[str]:
    """The reStructuredText appended to the class's docstring on its page (``shape``: the
    lines of its Shape section)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    out = [""] + _formula_lines(cls.__name__, second_order=True)
    out += _param_lines(cls.__name__, params) + [""]  # a field list: headed "Parameters"
    out += shape
    n = _n_grads(cls)
    grads = f"a tuple of {n} ndarrays, one per differentiable input in argument order" \
        if n > 1 else "one ndarray"
    out += [
        ".. rubric:: Returns", "",
        f"- ``crit(*inputs)``: {_RETURNS_LOSS}",
        f"- ``crit.backward()``: {grads}, shaped and typed like the "
        f"{'inputs' if n > 1 else 'input'}; ``crit.forward_backward(*inputs)`` returns "
        "``(loss, grad)`` from one pass, with ``hessian=True`` ``(loss, grad, hess)``.",
        "",
    ]
    func = _function(cls)
    return out + _seealso([f":func:`pylossfn.functional.{func}`"] if func else [], cls)


def function_sections(func: Any, cls: type, shape: list[str]) -> list[str]:
    """The same for the function of :mod:`pylossfn.functional` that computes ``cls``'s loss."""
    params = list(inspect.signature(func).parameters.values())
    out = [""] + _formula_lines(cls.__name__, second_order=False)
    out += _param_lines(func.__name__, params) + [""] + shape
    out += [".. rubric:: Returns", "", f"The loss: {_RETURNS_LOSS}", ""]
    return out + _seealso([f":class:`pylossfn.{cls.__name__}` (with its gradient and Hessian)"], cls)


def _take_shapes(lines: list[str]) -> list[str]:
    """Cut the docstring's "Shapes: ..." (to the end of its paragraph) out of ``lines``."""
    for i, line in enumerate(lines):
        at = line.find("Shapes")
        if at < 0:
            continue
        end = i
        while end + 1 < len(lines) and lines[end + 1].strip() and not lines[end + 1].startswith(">>>"):
            end += 1
        taken = [line[at:]] + lines[i + 1 : end + 1]
        head = line[:at].rstrip()
        lines[i : end + 1] = [head] if head else []
        return taken
    return []


_CODE = re.compile(r"``[^`]*``")


def _drop_code_formulas(lines: list[str]) -> None:
    """Drop the paragraphs that only spell the formula in code (``l = ...``; ``dl/dx = ...``):
    the page renders it as math.  A formula inside a sentence stays (it is prose there)."""
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        end = i
        while end < len(lines) and lines[end].strip():
            end += 1
        text = " ".join(lines[i:end])
        rest = re.sub(r"[;,.:\s]|\b(and|with|where)\b", "", _CODE.sub("", text))
        if ("``l = " in text or "``dl/" in text) and not rest:
            del lines[i:end + 1]
        else:
            i = end


def _shape_lines(cls: type, shapes: list[str]) -> list[str]:
    text = " ".join(ln.strip() for ln in shapes)
    text = re.sub(r"^Shapes:?\s*", "", text)
    out = [".. rubric:: Shape", ""]
    if text:
        out += [f"- Inputs: {text}"]
    none = none_shape(cls)
    out += [f'- Output: ``()`` (a scalar) for ``"mean"`` and ``"sum"``; {none} for ``"none"``.', ""]
    return out


def _process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                       lines: list[str]) -> None:
    losses = _losses()
    if what == "class" and name.startswith("pylossfn.") and name.split(".")[-1] in losses:
        cls = losses[name.split(".")[-1]]
        shapes = _take_shapes(lines)
        if cls.__name__ in FORMULAS:
            _drop_code_formulas(lines)
        lines.extend(sections(cls, _shape_lines(cls, shapes)))
        return
    by_function = {_function(c): c for c in losses.values()}
    if what == "function" and name.startswith("pylossfn.functional.") \
            and name.rsplit(".", 1)[-1] in by_function:
        cls = by_function[name.rsplit(".", 1)[-1]]
        shapes = _take_shapes(lines)
        lines.extend(function_sections(obj, cls, _shape_lines(cls, shapes)))
        return
    # a method a loss inherits from Loss: its first paragraph, and a link to the full text
    # (whose examples are the base class's, with their own losses)
    parts = name.split(".")
    if what in ("method", "property") and len(parts) == 3 and parts[1] in losses:
        if parts[1] != "Loss" and getattr(pylossfn.Loss, parts[2], None) is not None \
                and parts[2] not in vars(losses[parts[1]]):
            first = []
            for line in lines:
                if not line.strip():
                    break
                first.append(line)
            lines[:] = first + ["", f"See :meth:`pylossfn.Loss.{parts[2]}` for the details and "
                                "an example." if what == "method" else ""]


def _process_signature(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                       signature: str | None, return_annotation: str | None):
    if signature and "<class '" in signature:
        signature = re.sub(r"<class '(?:numpy\.)?(\w+)'>", r"np.\1", signature)
        return signature, return_annotation
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-signature", _process_signature)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
