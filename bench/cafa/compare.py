#!/usr/bin/env python3
"""Compare a Tessera CAFA evaluation (the JSON of GET /v1/orgs/{org}/cafa-evaluations/{id}) with
cafaeval.evaluation.cafa_eval run in-process on the same files.

cafaeval's TSV output is rounded (3 decimals at th_step 0.01), so this script calls
cafa_eval() itself and compares at full precision. Rows are matched by (namespace, tau);
every column present on both sides is compared, plus the best points (f, f_micro, s and,
with IA, f_w, f_micro_w, and the minimum of s_w). Exit code 1 when the largest absolute
difference exceeds --tol or when rows/namespaces are missing on either side.

Usable as a module: run_cafaeval(...), load_result(path), compare(df, dfs_best, result, tol),
compare_files(theirs_dir, ours_dir, th_step).
"""
import argparse
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time

# Best metric -> (value column, {json field: cafaeval column})
BEST_SPECS = {
    "f": ("f", {"pr": "pr", "rc": "rc", "cov": "cov", "cov_max": "cov_max"}),
    "f_micro": ("f_micro", {"pr": "pr_micro", "rc": "rc_micro", "cov": "cov", "cov_max": "cov_max"}),
    "s": ("s", {"ru": "ru", "mi": "mi", "cov": "cov", "cov_max": "cov_max"}),
    "f_w": ("f_w", {"pr": "pr_w", "rc": "rc_w", "cov": "cov_w", "cov_max": "cov_max"}),
    "f_micro_w": ("f_micro_w", {"pr": "pr_micro_w", "rc": "rc_micro_w", "cov": "cov_w", "cov_max": "cov_max"}),
}


def run_cafaeval(obo, pred_file, gt, ia=None, th_step=0.01, norm="cafa", no_orphans=False, threads=1, prop="max",
                 known=None, toi=None, max_terms=None):
    """Run cafaeval on a single prediction file, or on a directory of them as its command does; return (df,
    dfs_best, seconds, peak_rss_kb)."""
    from cafaeval.evaluation import cafa_eval
    tmp = tempfile.mkdtemp(prefix="cafa_compare_")
    try:
        pred_dir = pred_file if os.path.isdir(pred_file) else tmp
        if pred_dir == tmp:
            os.symlink(os.path.abspath(pred_file), os.path.join(tmp, os.path.basename(pred_file)))
        start = time.perf_counter()
        # -known and -toi are cafaeval-protea's (run this script with its Python); cafaeval 1.3.0 has neither.
        extra = {}
        if known is not None:
            extra["exclude"] = known
        if toi is not None:
            extra["toi_file"] = toi
        df, dfs_best = cafa_eval(obo, pred_dir, gt, ia=ia, no_orphans=no_orphans, norm=norm, prop=prop,
                                 th_step=th_step, n_cpu=threads, max_terms=max_terms, **extra)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return df, dfs_best, seconds, peak_kb


def load_result(path):
    with open(path) as f:
        return json.load(f)


class Tracker:
    def __init__(self):
        self.max_diff = 0.0
        self.where = None
        self.per_column = {}
        self.problems = []
        self.compared = 0

    def add(self, column, a, b, where):
        a = float(a)
        b = float(b)
        if math.isnan(a) and math.isnan(b):
            d = 0.0
        elif math.isnan(a) or math.isnan(b):
            d = math.inf
        else:
            d = abs(a - b)
        self.compared += 1
        if d > self.per_column.get(column, (-1.0, None))[0]:
            self.per_column[column] = (d, where)
        if d > self.max_diff or self.where is None:
            if d >= self.max_diff:
                self.max_diff, self.where = d, where


def compare(df, dfs_best, result, tol=1e-4):
    """Compare cafaeval DataFrames with a CAFAResult dict; return a Tracker."""
    tr = Tracker()
    swift = {ns["namespace"]: ns for ns in result.get("namespaces", [])}
    if df is None:
        py_ns = []
    else:
        flat = df.reset_index()
        py_ns = list(dict.fromkeys(flat["ns"]))
    for ns in py_ns:
        if ns not in swift:
            tr.problems.append("namespace %s missing in JSON" % ns)
    for ns in swift:
        if ns not in py_ns and swift[ns]["curves"]["tau"]:
            tr.problems.append("namespace %s missing in cafaeval output" % ns)
    for ns in py_ns:
        if ns not in swift:
            continue
        sub = flat[flat["ns"] == ns]
        curves = swift[ns]["curves"]
        s_rows = {round(t, 9): i for i, t in enumerate(curves["tau"])}
        p_rows = {round(float(t), 9): i for i, t in enumerate(sub["tau"])}
        for t in p_rows:
            if t not in s_rows:
                tr.problems.append("%s tau %s missing in JSON" % (ns, t))
        for t in s_rows:
            if t not in p_rows:
                tr.problems.append("%s tau %s missing in cafaeval output" % (ns, t))
        columns = [c for c in sub.columns if c in curves and c not in ("ns", "filename")]
        for c in sub.columns:
            if c not in curves and c not in ("ns", "filename"):
                tr.problems.append("%s column %s missing in JSON" % (ns, c))
        for t, pi in p_rows.items():
            si = s_rows.get(t)
            if si is None:
                continue
            for c in columns:
                tr.add(c, sub[c].iloc[pi], curves[c][si], "%s tau=%s col=%s" % (ns, t, c))
        # Best points picked by cafaeval.
        best = swift[ns].get("best", {})
        for metric, frame in dfs_best.items():
            value_col, fields = BEST_SPECS[metric]
            rows = frame.reset_index()
            rows = rows[rows["ns"] == ns]
            if rows.empty:
                continue
            row = rows.iloc[0]
            b = best.get(metric)
            if b is None:
                tr.problems.append("%s best %s missing in JSON" % (ns, metric))
                continue
            tr.add("best_%s.tau" % metric, row["tau"], b["tau"], "%s best %s tau" % (ns, metric))
            tr.add("best_%s.value" % metric, row[value_col], b["value"], "%s best %s value" % (ns, metric))
            for jf, col in fields.items():
                tr.add("best_%s.%s" % (metric, jf), row[col], b[jf], "%s best %s %s" % (ns, metric, jf))
        # s_w is not picked by cafaeval: take the first minimum of its s_w column.
        if "s_w" in sub.columns:
            b = best.get("s_w")
            if b is None:
                tr.problems.append("%s best s_w missing in JSON" % ns)
            else:
                i = int(sub["s_w"].values.argmin())
                r = sub.iloc[i]
                for jf, col in (("value", "s_w"), ("tau", "tau"), ("ru", "ru_w"), ("mi", "mi_w"), ("cov", "cov_w")):
                    tr.add("best_s_w.%s" % jf, r[col], b[jf], "%s best s_w %s" % (ns, jf))
                tr.add("best_s_w.cov_max", sub["cov_w"].max(), b["cov_max"], "%s best s_w cov_max" % ns)
    if tr.max_diff > tol:
        tr.problems.append("max abs diff %.3g > tol %.3g" % (tr.max_diff, tol))
    return tr


def without_fork():
    """cafaeval-protea's dense path evaluates in a pool of forked processes, and a fork of a process that had
    threads (numpy's) can hang for good on a lock one of them held: its pools run on threads here instead."""
    import multiprocessing
    import multiprocessing.pool
    import types
    from cafaeval import evaluation
    if getattr(evaluation, "mp", None) is multiprocessing:
        evaluation.mp = types.SimpleNamespace(
            cpu_count=multiprocessing.cpu_count,
            get_context=lambda *_: types.SimpleNamespace(Pool=multiprocessing.pool.ThreadPool))


def compare_exports(df, dfs_best, th_step, exports):
    """Problems between the files cafaeval writes for this result (write_results) and Tessera's in `exports`, and the
    number of lines compared (compare_files)."""
    from cafaeval.evaluation import write_results
    out = tempfile.mkdtemp(prefix="cafa_files_")
    try:
        write_results(df, dfs_best, out_dir=out, th_step=th_step)
        return compare_files(out, exports, th_step)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def compare_files(theirs_dir, ours_dir, th_step):
    """Problems between cafaeval's files in `theirs_dir` and Tessera's in `ours_dir`, and the number of lines compared:
    the same files, lines and fields, each number as cafaeval prints it — or one unit of the last decimal off, where
    the two values (equal to 1e-9, checked apart) fall either side of a rounding boundary (0.4875 printed with 3
    decimals: 0.48749999999999993 and 0.48750000000000004 differ in their sums' order only). Lines are matched in
    the order of their file, namespace and tau: cafaeval lists the files of a directory in the order the file system
    gives them."""
    decimals = int(math.ceil(-math.log10(th_step))) + 1
    unit = 10.0 ** -decimals

    def same(x, y):
        if x == y:
            return True
        try:
            return abs(float(x) - float(y)) <= unit * 1.000001
        except ValueError:
            return False

    theirs, ours = sorted(os.listdir(theirs_dir)), sorted(os.listdir(ours_dir))
    problems = [] if theirs == ours else ["files %s, cafaeval wrote %s" % (ours, theirs)]
    compared = 0
    key = lambda line: line.split("\t")[:3]
    for name in sorted(set(theirs) & set(ours)):
        with open(os.path.join(theirs_dir, name)) as a, open(os.path.join(ours_dir, name)) as b:
            expected, got = a.read().splitlines(), b.read().splitlines()
        expected, got = expected[:1] + sorted(expected[1:], key=key), got[:1] + sorted(got[1:], key=key)
        compared += min(len(expected), len(got))
        header = expected[0].split("\t") if expected else []
        for number, (e, g) in enumerate(zip(expected, got), 1):
            mine, other = g.split("\t"), e.split("\t")
            fields = [(c, x, y) for c, x, y in zip(header, mine, other) if not same(x, y)]
            if fields or len(mine) != len(other) or mine[:3] != other[:3]:
                problems.append("%s line %d: %s" % (name, number, ", ".join(
                    "%s %s where cafaeval wrote %s" % f for f in fields) or "%r != %r" % (g, e)))
                break
        else:
            if len(expected) != len(got):
                problems.append("%s: %d lines, cafaeval wrote %d" % (name, len(got), len(expected)))
    return problems, compared


def batch(path, tol=1e-9):
    """Compare every job of a JSON list [{obo, pred, gt, result?, exports?, ia?, th_step?, norm?, prop?, no_orphans?,
    known?, toi?, max_terms?}] in this one process: `result` (Tessera's JSON) to 1e-9 (cafaeval's numbers in memory,
    not its rounded TSV), `exports` (a directory of Tessera's files) as compare_exports says; `pred` a prediction file
    or a directory of them."""
    with open(path) as f:
        jobs = json.load(f)
    failed = 0
    for job in jobs:
        # cafaeval-protea 0.1.0's default (sparse) `fill` lets a predicted term's ancestors take the highest score
        # of any term below them, past terms predicted themselves; its dense path, like cafaeval, stops there.
        os.environ["CAFAEVAL_SPARSE"] = "0" if job.get("prop") == "fill" else "1"
        without_fork()
        df, dfs_best, seconds, _ = run_cafaeval(job["obo"], job["pred"], job["gt"], ia=job.get("ia"),
                                                th_step=job.get("th_step", 0.01), norm=job.get("norm", "cafa"),
                                                prop=job.get("prop", "max"), no_orphans=job.get("no_orphans", False),
                                                known=job.get("known"), toi=job.get("toi"),
                                                max_terms=job.get("max_terms"))
        tr = compare(df, dfs_best, load_result(job["result"]), tol) if job.get("result") else Tracker()
        if job.get("exports"):
            problems, lines = compare_exports(df, dfs_best, job.get("th_step", 0.01), job["exports"])
            tr.problems += problems
            if not job.get("result"):
                tr.compared = lines
        ok = not tr.problems and tr.compared > 0
        failed += not ok
        label = os.path.basename(job["pred"]) + "".join(
            f" {k}={job[k]}" for k in ("prop", "no_orphans", "norm", "th_step", "max_terms") if k in job) + "".join(
            f" {k}" for k in ("known", "toi", "ia") if job.get(k))
        what = ("%d values, max abs diff %.3e at %s" % (tr.compared, tr.max_diff, tr.where) if job.get("result")
                else "%d lines of its files" % tr.compared)
        print("%s %s: %s%s" % ("OK  " if ok else "FAIL", label, what, "".join("; " + p for p in tr.problems)))
    print("RESULT: %s (%d of %d jobs failed)" % ("OK" if failed == 0 and jobs else "FAIL", failed, len(jobs)))
    return 0 if failed == 0 and jobs else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--batch"] and len(argv) == 2:
        return batch(argv[1])
    ap = argparse.ArgumentParser(description=__doc__ + "\nOr: compare.py --batch JOBS.json (a list of {obo, pred, gt, result, ia, th_step, norm}).",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("obo")
    ap.add_argument("pred_file", help="ONE prediction file (target term score)")
    ap.add_argument("gt_file")
    ap.add_argument("result_json", help="the evaluation JSON (its namespaces with best values and curves)")
    ap.add_argument("-ia", "--ia", default=None)
    ap.add_argument("-th_step", "--th_step", type=float, default=0.01)
    ap.add_argument("-norm", "--norm", choices=["cafa", "pred", "gt"], default="cafa")
    ap.add_argument("-no_orphans", "--no_orphans", action="store_true")
    ap.add_argument("-prop", "--prop", choices=["max", "fill"], default="max")
    ap.add_argument("-threads", "--threads", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args(argv)

    df, dfs_best, seconds, peak_kb = run_cafaeval(args.obo, args.pred_file, args.gt_file, ia=args.ia,
                                                  th_step=args.th_step, norm=args.norm,
                                                  no_orphans=args.no_orphans, threads=args.threads, prop=args.prop)
    print("cafaeval wall time: %.3f s, peak RSS: %.1f MB" % (seconds, peak_kb / 1024.0))
    tr = compare(df, dfs_best, load_result(args.result_json), args.tol)
    print("values compared: %d" % tr.compared)
    print("max abs diff overall: %.3e at %s" % (tr.max_diff, tr.where))
    for col in sorted(tr.per_column):
        d, where = tr.per_column[col]
        print("  %-22s %.3e  (%s)" % (col, d, where))
    for p in tr.problems:
        print("PROBLEM: " + p)
    ok = not tr.problems and tr.compared > 0
    print("RESULT: %s" % ("OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
