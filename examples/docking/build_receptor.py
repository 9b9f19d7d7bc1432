#!/usr/bin/env python3
"""Builds the example's receptor: a ten-residue peptide (GWKFYHWDEL) folded by RDKit's ETKDG and relaxed with
MMFF, written as a rigid AutoDock PDBQT (polar hydrogens kept; AutoDock atom types; charges 0, which Vina's
scoring does not use). No download: the docking example needs no file from outside this machine.

Usage: build_receptor.py OUT.pdbqt — prints {"center": [x, y, z], "size": [x, y, z]} (Å) of the box around it.
"""
import json
import sys

from rdkit import Chem
from rdkit.Chem import AllChem

SEQUENCE = "GWKFYHWDEL"


def autodock_type(atom):
    element = atom.GetSymbol()
    if element == "C":
        return "A" if atom.GetIsAromatic() else "C"
    if element == "N":
        return "NA" if atom.GetIsAromatic() and atom.GetTotalNumHs() == 0 else "N"
    if element == "O":
        return "OA"
    if element == "S":
        return "SA"
    if element == "H":
        return "HD"
    return element


def build():
    peptide = Chem.AddHs(Chem.MolFromSequence(SEQUENCE))
    params = AllChem.ETKDGv3()
    params.randomSeed = 7
    params.useRandomCoords = True
    if AllChem.EmbedMolecule(peptide, params) != 0:
        raise SystemExit("could not embed the peptide")
    AllChem.MMFFOptimizeMolecule(peptide, maxIters=500)
    return peptide


def pdbqt(peptide):
    conformer = peptide.GetConformer()
    lines = []
    serial = 0
    for atom in peptide.GetAtoms():
        if atom.GetSymbol() == "H" and atom.GetNeighbors()[0].GetSymbol() not in ("N", "O"):
            continue  # a united-atom receptor: only polar hydrogens
        serial += 1
        info = atom.GetPDBResidueInfo()
        name = info.GetName().strip() if info else atom.GetSymbol()
        name = name if len(name) == 4 else " " + name[:3]
        residue = info.GetResidueName() if info else "UNL"
        number = info.GetResidueNumber() if info else 1
        p = conformer.GetAtomPosition(atom.GetIdx())
        lines.append("ATOM  %5d %-4s %3s A%4d    %8.3f%8.3f%8.3f  1.00  0.00    %6.3f %-2s"
                     % (serial, name, residue, number, p.x, p.y, p.z, 0.0, autodock_type(atom)))
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    peptide = build()
    with open(sys.argv[1], "w") as out:
        out.write(pdbqt(peptide))
    points = peptide.GetConformer().GetPositions()
    low, high = points.min(axis=0), points.max(axis=0)
    center = [round(float(v), 3) for v in (low + high) / 2]
    size = [round(float(v) + 8, 1) for v in high - low]
    print(json.dumps({"center": center, "size": size}))


if __name__ == "__main__":
    main()
