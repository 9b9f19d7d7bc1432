#!/usr/bin/env python3
"""Writes classification.json: labelled samples and what scikit-learn and NumPy compute for them.

Tessera's run evaluation must give the same numbers (TesseraCoreTests and the run evaluation integration test
read this file). A prediction of None is a failed, missing or unparsable one: it is passed to scikit-learn as a
sentinel label that is left out of `labels=`, so it is wrong for accuracy and recall and in no label's predictions.

    pip install scikit-learn && python3 Tests/Fixtures/make_classification.py
"""
import json
import os
import random

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

SENTINEL = "\x00unanswered"


def case(name, y_true, y_pred, latencies):
    labels = sorted(set(y_true) | {p for p in y_pred if p is not None})
    pred = [SENTINEL if p is None else p for p in y_pred]
    p, r, f, s = precision_recall_fscore_support(y_true, pred, labels=labels, zero_division=0)
    averages = {}
    for average in ("macro", "micro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y_true, pred, labels=labels, average=average, zero_division=0)
        assert af == f1_score(y_true, pred, labels=labels, average=average, zero_division=0)
        averages[average] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    return {
        "name": name,
        "truth": y_true,
        "predicted": y_pred,
        "latencies": latencies,
        "expected": {
            "labels": labels,
            "accuracy": float(accuracy_score(y_true, pred)),
            "precision": [float(x) for x in p],
            "recall": [float(x) for x in r],
            "f1": [float(x) for x in f],
            "support": [int(x) for x in s],
            **averages,
            "confusion_matrix": confusion_matrix(y_true, pred, labels=labels).tolist(),
            "latency": {
                "mean": float(np.mean(latencies)),
                "p50": float(np.percentile(latencies, 50)),
                "p95": float(np.percentile(latencies, 95)),
                "p99": float(np.percentile(latencies, 99)),
            },
        },
    }


def main():
    rng = random.Random(7)
    cases = []
    # Small and readable: "dog" is never predicted, "fish" never true, two samples unanswered.
    cases.append(case(
        "small",
        ["cat", "cat", "dog", "bird", "bird", "bird", "cat", "dog"],
        ["cat", "bird", None, "bird", "fish", "bird", "cat", None],
        [0.5, 1.5, 0.25, 2.0, 3.0, 0.75, 1.0, 4.0],
    ))
    # Larger: six true labels (one never predicted), one predicted label never true, 8 % unanswered.
    truth_labels = ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    y_true, y_pred = [], []
    for _ in range(400):
        t = rng.choice(truth_labels)
        roll = rng.random()
        if roll < 0.08:
            p = None
        elif roll < 0.65:
            p = t
        elif roll < 0.75:
            p = "omega"
        else:
            p = rng.choice([l for l in truth_labels if l != "zeta"])
        if t == "zeta" and p == "zeta":
            p = "alpha"
        y_true.append(t)
        y_pred.append(p)
    latencies = [round(rng.lognormvariate(-1, 0.8), 4) for _ in range(400)]
    cases.append(case("random", y_true, y_pred, latencies))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classification.json")
    with open(out, "w") as f:
        json.dump({"generator": f"scikit-learn {sklearn.__version__}, numpy {np.__version__}", "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
