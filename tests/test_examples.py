"""The README's main job and quick start run, and learn."""
import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_runs(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "BCEWithLogitsLoss" in out and "CrossEntropyLoss" in out


@pytest.mark.sklearn  # the example's data sets come from scikit-learn
def test_train_mlp_learns(tmp_path, capsys):
    train_mlp = runpy.run_path(str(EXAMPLES / "train_mlp.py"))
    histories = train_mlp["main"](["--epochs", "3", "--out", str(tmp_path)])
    assert (tmp_path / "train_mlp.png").stat().st_size > 0
    assert "Multi-label ->" in capsys.readouterr().out
    for run, hist in histories.items():
        losses = [h["train_loss"] for h in hist]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], run
    # better than chance: multi-class has 8 balanced classes
    assert histories["C"][-1]["accuracy"] > 0.5


@pytest.mark.boosting  # XGBoost, from pylossfn[boosting]
def test_boosting_focal_trains_every_objective(capsys):
    example = runpy.run_path(str(EXAMPLES / "boosting_focal.py"))
    results = example["main"](["--rounds", "6"])
    out = capsys.readouterr().out
    assert set(results) == set(example["OBJECTIVES"]) and "BCE" in results
    _, _, _, Yte = example["make_data"]()
    for name, r in results.items():
        # better than ranking at random: the mean average precision of random scores
        # is about the positive rate
        assert r["mAP"] > 1.5 * Yte.mean(), (name, r)
        assert 0.0 <= r["F1"] <= 1.0 and name in out

def test_xml_tagging_learns(capsys):
    """The 100k-label example: sparse targets, the fused head, better than popularity."""
    xml = runpy.run_path(str(EXAMPLES / "xml_tagging.py"))
    res = xml["main"](["--steps", "20"])
    p1 = [h["p@1"] for h in res["history"]]
    assert p1[-1] > p1[0] and p1[-1] > res["baseline"], (p1, res["baseline"])
    assert "precision@1" in capsys.readouterr().out
