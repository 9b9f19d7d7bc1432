#!/usr/bin/env python3
"""Generate a synthetic CAFA fixture: ontology OBO, ground truth, predictions and IA.

Deterministic for a given --seed. Writes into OUT_DIR:
  ontology.obo      N terms in biological_process/molecular_function/cellular_component
                    (~65/25/10 %), a DAG of 13 levels with is_a plus some part_of edges,
                    a few cross-namespace part_of edges (dropped by cafaeval), obsolete terms,
                    alt_ids (a few shared by two terms, a few equal to another term's id),
                    a namespace-external term and a [Typedef] stanza
  ground_truth.tsv  target<TAB>term, T targets, 1-4 terms in 1-3 namespaces (mostly deep
                    terms, some alt ids, a few unknown/obsolete ids)
  predictions/predictions.tsv  target term score, P lines, scores in (0,1] with <= 3 decimals,
                    some targets without truth, some duplicated pairs, mostly near-correct terms
  ia.tsv            term<TAB>value for every term (about 10 % zero)
"""
import argparse
import os
import random
import time

NAMESPACES = [("biological_process", 0.65), ("molecular_function", 0.25), ("cellular_component", 0.10)]
LEVELS = 13


def fmt_score(s):
    t = "%.3f" % s
    t = t.rstrip("0").rstrip(".")
    return t if t else "0"


def build_ontology(rng, n_terms):
    """Return (terms, by_ns) where terms is a list of dicts and by_ns maps ns -> list of term indexes."""
    terms = []
    by_ns = {}
    next_id = 1
    for ns, frac in NAMESPACES:
        size = max(LEVELS + 1, int(round(n_terms * frac)))
        if ns == NAMESPACES[-1][0]:
            size = max(LEVELS + 1, n_terms - len(terms))
        # Level sizes: grow geometrically then flatten; level 0 is the single root.
        weights = [min(1.6 ** d, 1.6 ** 8) for d in range(1, LEVELS)]
        total_w = sum(weights)
        sizes = [max(1, int((size - 1) * w / total_w)) for w in weights]
        sizes[-1] += (size - 1) - sum(sizes)
        levels = []
        idxs = []
        for d, count in enumerate([1] + sizes):
            level = []
            for _ in range(count):
                t = {"id": "GO:%07d" % next_id, "ns": ns, "level": d, "is_a": [], "part_of": [],
                     "alt": [], "children": []}
                next_id += 1
                i = len(terms)
                terms.append(t)
                level.append(i)
                idxs.append(i)
                if d > 0:
                    p = rng.choice(levels[d - 1])
                    t["is_a"].append(p)
                    if rng.random() < 0.35:
                        dd = rng.randrange(0, d)
                        q = rng.choice(levels[dd])
                        if q != p:
                            (t["part_of"] if rng.random() < 0.4 else t["is_a"]).append(q)
            levels.append(level)
        by_ns[ns] = idxs
    # Children lists (same namespace only, as evaluated).
    for i, t in enumerate(terms):
        for p in t["is_a"] + t["part_of"]:
            terms[p]["children"].append(i)
    return terms, by_ns, next_id


def write_obo(path, rng, terms, by_ns, next_id):
    ns_names = [ns for ns, _ in NAMESPACES]
    alt_counter = 9000000
    alt_of = {}
    for i, t in enumerate(terms):
        if rng.random() < 0.02:
            t["alt"].append("GO:%07d" % alt_counter)
            alt_counter += 1
    # A few alt ids shared by two terms of the same namespace.
    for k in range(5):
        ns = ns_names[k % 3]
        a, b = rng.sample(by_ns[ns], 2)
        shared = "GO:%07d" % alt_counter
        alt_counter += 1
        terms[a]["alt"].append(shared)
        terms[b]["alt"].append(shared)
    # A few alt ids equal to another term's canonical id (gt: canonical first, pred: alt first).
    for k in range(3):
        ns = ns_names[k % 3]
        a, b = rng.sample(by_ns[ns], 2)
        terms[a]["alt"].append(terms[b]["id"])
    obsolete = []
    lines = ["format-version: 1.2", "data-version: releases/2025-01-01", "ontology: go", ""]
    for i, t in enumerate(terms):
        lines.append("[Term]")
        lines.append("id: " + t["id"])
        lines.append("name: term %d level %d" % (i, t["level"]))
        lines.append("namespace: " + t["ns"])
        for a in t["alt"]:
            lines.append("alt_id: " + a)
        lines.append('def: "Synthetic term %d: level %d." [GOC:gen]' % (i, t["level"]))
        for p in t["is_a"]:
            lines.append("is_a: %s ! term %d" % (terms[p]["id"], p))
        for p in t["part_of"]:
            lines.append("relationship: part_of %s ! term %d" % (terms[p]["id"], p))
        if rng.random() < 0.003 and t["level"] > 0:
            other = rng.choice([n for n in ns_names if n != t["ns"]])
            lines.append("relationship: part_of %s ! cross-namespace" % terms[rng.choice(by_ns[other])]["id"])
        if rng.random() < 0.002:
            lines.append("relationship: regulates %s" % terms[rng.choice(by_ns[t["ns"]])]["id"])
        lines.append("")
        if rng.random() < 0.004:
            oid = "GO:%07d" % next_id
            next_id += 1
            obsolete.append(oid)
            lines += ["[Term]", "id: " + oid, "name: obsolete term", "namespace: " + t["ns"],
                      'def: "OBSOLETE. Was synthetic." [GOC:gen]', "is_obsolete: true",
                      "replaced_by: " + t["id"], ""]
    ext = "GO:%07d" % next_id
    lines += ["[Term]", "id: " + ext, "name: external thing", "namespace: external", "", "[Typedef]",
              "id: part_of", "name: part of", "is_transitive: true", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return obsolete, ext


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--terms", type=int, default=40000)
    ap.add_argument("--targets", type=int, default=20000)
    ap.add_argument("--predictions", type=int, default=2000000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    start = time.time()
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out_dir, "predictions"), exist_ok=True)

    terms, by_ns, next_id = build_ontology(rng, args.terms)
    obsolete, ext = write_obo(os.path.join(args.out_dir, "ontology.obo"), rng, terms, by_ns, next_id)
    ns_names = [ns for ns, _ in NAMESPACES]
    ns_weights = [w for _, w in NAMESPACES]
    deep = {ns: [i for i in by_ns[ns] if terms[i]["level"] >= 6] or by_ns[ns] for ns in ns_names}

    # IA for all terms.
    with open(os.path.join(args.out_dir, "ia.tsv"), "w") as f:
        out = []
        for t in terms:
            v = 0.0 if rng.random() < 0.1 else rng.expovariate(0.7)
            out.append("%s\t%.6g" % (t["id"], v))
        f.write("\n".join(out) + "\n")

    # Ground truth.
    truth = {}
    gt_lines = []
    for k in range(args.targets):
        target = "T%07d" % k
        n_ns = rng.choices([1, 2, 3], [0.6, 0.3, 0.1])[0]
        chosen = rng.sample(ns_names, n_ns) if n_ns < 3 else list(ns_names)
        terms_t = []
        for ns in chosen:
            for _ in range(rng.choice([1, 1, 2, 3, 4])):
                i = rng.choice(deep[ns]) if rng.random() < 0.85 else rng.choice(by_ns[ns])
                terms_t.append(i)
                r = rng.random()
                if r < 0.03 and terms[i]["alt"]:
                    term_id = terms[i]["alt"][0]
                elif r < 0.04:
                    term_id = rng.choice(obsolete) if obsolete and rng.random() < 0.5 else "GO:%07d" % (8000000 + k)
                else:
                    term_id = terms[i]["id"]
                gt_lines.append("%s\t%s" % (target, term_id))
        truth[target] = terms_t
    with open(os.path.join(args.out_dir, "ground_truth.tsv"), "w") as f:
        f.write("\n".join(gt_lines) + "\n")

    # Predictions.
    targets = list(truth)
    extra = ["X%07d" % k for k in range(max(1, args.targets // 20))]
    per_target = max(1, args.predictions // (len(targets) + len(extra)))
    n_terms = len(terms)
    written = 0
    path = os.path.join(args.out_dir, "predictions", "predictions.tsv")
    rand = rng.random
    with open(path, "w") as f:
        buf = []
        order = targets + extra
        rng.shuffle(order)
        pos = 0
        while written < args.predictions:
            target = order[pos % len(order)]
            pos += 1
            k = rng.randint(per_target // 2, per_target + per_target // 2) if per_target > 1 else 1
            k = min(k, args.predictions - written)
            # Distinct terms per target, as a predictor reports them: the truth's neighbourhood (the terms
            # themselves, parents, grandparents, children, siblings) scored by closeness, then random terms scored low.
            near = {}
            for i in truth.get(target, ()):
                t = terms[i]
                near.setdefault(i, 0.5)
                for p in t["is_a"] + t["part_of"]:
                    near.setdefault(p, 0.3)
                    for g in terms[p]["is_a"] + terms[p]["part_of"]:
                        near.setdefault(g, 0.25)
                    for sib in terms[p]["children"][:20]:
                        near.setdefault(sib, 0.1)
                for c in t["children"][:20]:
                    near.setdefault(c, 0.2)
            picked = list(near)
            rng.shuffle(picked)
            picked = picked[: int(k * 0.6)]
            chosen = set(picked)
            while len(picked) < k:
                i = int(rand() * n_terms)
                if i not in chosen:
                    chosen.add(i)
                    picked.append(i)
            for i in picked:
                base = near.get(i)
                score = base + (1 - base) * rand() if base is not None else 0.5 * rand()
                term_id = terms[i]["id"]
                if terms[i]["alt"] and rand() < 0.05:
                    term_id = terms[i]["alt"][0]
                score = min(1.0, max(0.001, score))
                buf.append("%s\t%s\t%s\n" % (target, term_id, fmt_score(score)))
                written += 1
                if rand() < 0.01 and written < args.predictions:
                    buf.append("%s\t%s\t%s\n" % (target, term_id, fmt_score(max(0.001, rand()))))
                    written += 1
            if len(buf) > 100000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
    print("wrote %s: %d terms (+%d obsolete), %d targets, %d prediction lines in %.1f s"
          % (args.out_dir, n_terms, len(obsolete), len(targets), written, time.time() - start))


if __name__ == "__main__":
    main()
