#!/usr/bin/env python3
"""Write the files of cafaeval-protea's options that cafaeval lacks, for a CAFA fixture (deterministic by --seed):

  known.tsv  annotations already known (-known; the ground truth's format): for about half the ground truth's
             targets some of their own lines and some other terms of the ontology, an alternative id, an unknown
             term, and a target the ground truth lacks
  toi.tsv    terms of interest (-toi): about 60 % of the ontology's terms (first column; some lines carry a second
             one), some alternative ids, an unknown id
  predictions-unambiguous.tsv  (with --predictions) those lines of the predictions that do not name an alternative
             id standing for several terms: both tools expand such an id in the order of a Python set, which changes
             from one process to the next, so under -max_terms which of its terms a target keeps is a coin toss

    options.py OBO GROUND_TRUTH OUT_DIR [--seed N] [--predictions FILE]
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("obo")
    ap.add_argument("gt")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--predictions")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    terms, alts, alt_terms = [], [], {}
    with open(args.obo) as f:
        for line in f:
            if line.startswith("id: "):
                terms.append(line[4:].strip())
            elif line.startswith("alt_id: "):
                alts.append(line[8:].strip())
                alt_terms.setdefault(alts[-1], set()).add(terms[-1])
    by_target = {}
    with open(args.gt) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                by_target.setdefault(parts[0], []).append(parts[1])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "known.tsv"), "w") as f:
        for target in sorted(by_target):
            if rng.random() < 0.5:
                continue
            own = by_target[target]
            for term in rng.sample(own, max(1, len(own) // 2)):
                f.write(f"{target}\t{term}\n")
            for term in rng.sample(terms, 2):
                f.write(f"{target}\t{term}\n")
            if alts and rng.random() < 0.2:
                f.write(f"{target}\t{rng.choice(alts)}\n")
        f.write("not-a-target\t%s\n" % terms[0])
        f.write("%s\tXX:0000000\n" % sorted(by_target)[0])
    with open(os.path.join(args.out, "toi.tsv"), "w") as f:
        for term in terms:
            if rng.random() < 0.6:
                f.write(term + ("\tkept\n" if rng.random() < 0.1 else "\n"))
        for term in rng.sample(alts, min(3, len(alts))):
            f.write(term + "\n")
        f.write("XX:0000000\n")
    if args.predictions:
        shared = {alt for alt, owners in alt_terms.items() if len(owners) > 1}
        with open(args.predictions) as f, open(os.path.join(args.out, "predictions-unambiguous.tsv"), "w") as out:
            for line in f:
                parts = line.split()
                if len(parts) < 2 or parts[1] not in shared:
                    out.write(line)


if __name__ == "__main__":
    main()
