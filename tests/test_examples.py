"""The README's main job and quick start run, and learn."""
import contextlib
import importlib.util
import io
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DOCS_EXT = EXAMPLES.parent / "docs" / "_ext" / "example_run.py"


def test_quickstart_runs(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "BCEWithLogitsLoss" in out and "CrossEntropyLoss" in out


# -- the main job: examples/train_mlp.py -------------------------------------------------

N_SAMPLES = 700  # of each data set, in the reduced run


@pytest.fixture(scope="module")
def train_mlp():
    return runpy.run_path(str(EXAMPLES / "train_mlp.py"))


@pytest.fixture(scope="module")
def reduced_run(train_mlp, tmp_path_factory):
    """The main job, reduced (2 folds of 700 samples, few epochs, one process): its
    results, its printed output and its output folder."""
    out_dir = tmp_path_factory.mktemp("train_mlp")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        results = train_mlp["main"](["--quick", "--folds", "2", "--jobs", "1", "--max-samples",
                                     str(N_SAMPLES), "--out", str(out_dir)])
    return results, stdout.getvalue(), out_dir


def test_datasets_are_river_s(train_mlp):
    """The loader reads river's files as river's own dataset classes do (the oracle)."""
    datasets = pytest.importorskip("river.datasets")
    load = train_mlp
    X, Y = load["load_yeast"]()
    assert X.shape == (2417, 103) and Y.shape == (2417, 14)
    rows = list(datasets.Yeast())
    np.testing.assert_array_equal(X, [list(x.values()) for x, _ in rows])
    np.testing.assert_array_equal(Y, [[int(v) for v in y.values()] for _, y in rows])
    X, y, names = load["load_segment"]()
    assert X.shape == (2310, 18) and len(names) == 7
    rows = list(datasets.ImageSegments())
    np.testing.assert_array_equal(X, [list(x.values()) for x, _ in rows])
    assert [names[k] for k in y] == [label for _, label in rows]
    assert np.bincount(y).tolist() == [330] * 7  # balanced, as published


@pytest.mark.sklearn  # the folds and the baselines come from scikit-learn
def test_train_mlp_reduced_run_writes_every_part(train_mlp, reduced_run):
    results, stdout, out_dir = reduced_run
    assert (out_dir / "train_mlp.png").stat().st_size > 0
    assert json.loads((out_dir / "results.json").read_text()) == json.loads(json.dumps(results))
    ml_metrics, mc_metrics = train_mlp["ML_METRICS"], train_mlp["MC_METRICS"]
    yeast, segment = results["yeast"], results["segment"]
    assert (yeast["n_samples"], yeast["n_features"], yeast["n_labels"]) == (N_SAMPLES, 103, 14)
    assert (segment["n_samples"], segment["n_features"], segment["n_classes"]) == (N_SAMPLES, 18, 7)
    assert "2-fold" in yeast["protocol"] and "inner" in yeast["protocol"]
    losses = ["sigmoid + BCEWithLogitsLoss", "softmax + CrossEntropyLoss",
              "sigmoid + SigmoidFocalLoss", "sigmoid + AsymmetricLoss", "ZLPRLoss",
              "sigmoid + SoftF1Loss", "sigmoid + DiceLoss", "sigmoid + PolyBCEWithLogitsLoss",
              "MultiLabelMarginLoss"]
    baselines = ["scikit-learn LogisticRegression (one-vs-rest)",
                 "scikit-learn MLPClassifier (sigmoid + BCE)"]
    for name in losses + baselines:
        for metric in ml_metrics:
            mean, std = yeast[name][metric]
            assert np.isfinite(mean) and std >= 0, (name, metric)
        # both conventions of coverage: Zhang & Zhou's counts from 0
        assert yeast[name]["coverage"][0] == pytest.approx(yeast[name]["coverage_error"][0] - 1)
    for name in ["softmax + CrossEntropyLoss", "softmax + CrossEntropyLoss(label_smoothing=0.1)",
                 "softmax + PolyCrossEntropyLoss",
                 "sigmoid + BCEWithLogitsLoss (one-hot)", "MultiMarginLoss",
                 "sigmoid + SigmoidFocalLoss (one-hot)", "scikit-learn LogisticRegression",
                 "scikit-learn MLPClassifier"]:
        assert set(mc_metrics) <= set(segment[name]), name
    # the printed tables hold every method and the published rows, with their numbers
    for name in losses + baselines:
        assert f"| {name} |" in stdout
    for paper, row in train_mlp["PUBLISHED"].items():
        line = next(ln for ln in stdout.splitlines() if ln.startswith(f"| {paper}, published"))
        assert all(f"{v:.3f}" in line for v in row.values()), line
    assert "Multi-label ->" in stdout and "Multi-class ->" in stdout


@pytest.mark.sklearn
def test_train_mlp_learns(train_mlp, reduced_run):
    """Better than what the data give away: ranking every gene's labels by how frequent
    they are, and always answering the most frequent class (oracle: scikit-learn)."""
    from sklearn.metrics import label_ranking_average_precision_score, label_ranking_loss

    results = reduced_run[0]
    load = train_mlp
    _, Y = load["load_yeast"]()
    Y = Y[:N_SAMPLES]
    frequency = np.broadcast_to(Y.mean(0), Y.shape)
    bce = results["yeast"]["sigmoid + BCEWithLogitsLoss"]
    prior = label_ranking_average_precision_score(Y, frequency)
    assert bce["average_precision"][0] > prior, (bce["average_precision"], prior)
    prior = label_ranking_loss(Y, frequency)
    assert bce["ranking_loss"][0] < prior, (bce["ranking_loss"], prior)
    _, y, _ = load["load_segment"]()
    majority = np.bincount(y[:N_SAMPLES]).max() / N_SAMPLES
    for name, res in results["segment"].items():
        if isinstance(res, dict) and "accuracy" in res:
            assert res["accuracy"][0] > 2 * majority, (name, res["accuracy"])


@pytest.mark.sklearn
def test_train_mlp_dropin_matches_torch(reduced_run):
    results, stdout, _ = reduced_run
    if importlib.util.find_spec("torch") is None:
        assert "dropin" not in results and "torch is not installed" in stdout
        return
    dropin = results["dropin"]
    assert set(dropin) == {"BCEWithLogitsLoss (Yeast)", "CrossEntropyLoss (Image Segments)"}
    for name, d in dropin.items():
        # the same curves up to float32 rounding, step after step
        assert d["steps"] > 5 and d["max_rel_diff"] < 1e-5, (name, d)
        assert d["pylossfn_seconds"] > 0 and d["torch_seconds"] > 0


@pytest.mark.sklearn
def test_docs_extension_reads_the_run_and_refuses_missing_parts(reduced_run, monkeypatch):
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location("example_run", DOCS_EXT)
    ext = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "example_run", ext)  # its dataclasses look it up
    spec.loader.exec_module(ext)
    _, stdout, out_dir = reduced_run
    run = ext._parse(stdout, out_dir)
    assert set(run.tables) | set(run.notes) == {"yeast", "segment", "dropin"}
    assert run.tables["yeast"][0][:2] == ["method", "decision"]
    assert "Multi-label ->" in run.conclusion and run.figure.is_file()
    # without torch the script prints a note where the drop-in table was: the page shows it
    head, rest = stdout.split("### Drop-in", 1)
    note = "torch is not installed: the drop-in comparison was skipped."
    no_torch = f"{head}### Drop-in: ...\n\n{note}\n\n### Answer{rest.split('### Answer', 1)[1]}"
    assert ext._parse(no_torch, out_dir).notes == {"dropin": note}
    no_published = "\n".join(ln for ln in stdout.splitlines() if "ML-kNN" not in ln)
    no_segment = stdout.replace("### Image Segments", "### Something else")
    for broken in (no_published, no_segment, stdout.replace("### Answer", "")):
        with pytest.raises(ext.ExtensionError):
            ext._parse(broken, out_dir)


@pytest.mark.sklearn
def test_train_mlp_synthetic_data_flag(train_mlp, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        results = train_mlp["main"](["--data", "synthetic", "--quick", "--folds", "2", "--jobs",
                                     "1", "--max-samples", "300", "--out", str(tmp_path)])
    assert {"synthetic-multilabel", "synthetic-multiclass"} <= set(results)
    assert (tmp_path / "train_mlp.png").stat().st_size > 0


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
