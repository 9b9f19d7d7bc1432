#!/usr/bin/env python3
"""A docking task service for Tessera's job engine: ligands prepared from SMILES with RDKit and Meeko, docked with
AutoDock Vina into a receptor the job gives as an input file. Its operations are described by interface.json
(Tessera checks every request and answer against it).

  GET  /health           200
  POST /prepare-ligands  params.ligands [{name, smiles, molecule_id?}] -> {"ligands": [{name, smiles, pdbqt, ...}]}
  POST /dock             the prepared ligands (the result of the step it depends on) and the job's file named
                         "receptor" (a PDBQT, fetched from its download_url) -> {"docking_results": [...]}, each
                         pose's PDBQT stored as an artifact through the request's artifact_upload_url

Usage: service.py [--host 127.0.0.1] [--port 8090] [--exit-on-stdin-close]
Prints the port it listens on as its first line (useful with --port 0).
"""
import argparse
import json
import re
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from meeko import MoleculePreparation, PDBQTWriterLegacy
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem
from vina import Vina

RDLogger.DisableLog("rdApp.*")


class TaskError(Exception):
    """A request this service cannot do: answered 422 with the reason (the engine fails the step, naming it)."""


def prepare(body):
    ligands = (body.get("params") or {}).get("ligands") or []
    if not ligands:
        raise TaskError("params.ligands: give at least one {name, smiles}")
    prepared = []
    for index, ligand in enumerate(ligands):
        molecule = Chem.MolFromSmiles(ligand.get("smiles", ""))
        if molecule is None:
            raise TaskError(f"params.ligands[{index}].smiles: RDKit cannot read {ligand.get('smiles')!r}")
        molecule = Chem.AddHs(molecule)
        params = AllChem.ETKDGv3()
        params.randomSeed = 42
        if AllChem.EmbedMolecule(molecule, params) != 0:
            raise TaskError(f"params.ligands[{index}]: no 3D conformer could be embedded")
        AllChem.MMFFOptimizeMolecule(molecule)
        setups = MoleculePreparation().prepare(molecule)
        text, ok, error = PDBQTWriterLegacy.write_string(setups[0])
        if not ok:
            raise TaskError(f"params.ligands[{index}]: Meeko could not write PDBQT: {error}")
        entry = {"name": ligand["name"], "smiles": ligand["smiles"], "pdbqt": text}
        if ligand.get("molecule_id"):
            entry["molecule_id"] = ligand["molecule_id"]
        prepared.append(entry)
    return {"ligands": prepared}


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def upload(url, name, data):
    query = urllib.parse.urlencode({"name": name, "content_type": "chemical/x-pdbqt"})
    request = urllib.request.Request(f"{url}?{query}", data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["id"]


def dock(body):
    params = body.get("params") or {}
    ligands = next((v["ligands"] for v in (body.get("inputs") or {}).values()
                    if isinstance(v, dict) and "ligands" in v), None)
    if not ligands:
        raise TaskError("inputs: no step before this one gave prepared ligands")
    receptor = next((f for f in body.get("files") or [] if f.get("name") == "receptor"), None)
    if receptor is None or not receptor.get("download_url"):
        raise TaskError("files: the job needs an input file named 'receptor' (an artifact, PDBQT)")
    center = params.get("center")
    if not (isinstance(center, list) and len(center) == 3):
        raise TaskError("params.center: give the box centre [x, y, z] in Å")
    size = params.get("box") or [20, 20, 20]
    with tempfile.NamedTemporaryFile("w", suffix=".pdbqt") as receptor_file:
        receptor_file.write(fetch(receptor["download_url"]))
        receptor_file.flush()
        return {"docking_results": dock_all(ligands, receptor_file.name, params, center, size, body)}


def dock_all(ligands, receptor_path, params, center, size, body):
    poses = int(params.get("poses", 3))
    results = []
    for ligand in ligands:
        vina = Vina(sf_name="vina", seed=int(params.get("seed", 1)), verbosity=0, cpu=1)
        vina.set_receptor(rigid_pdbqt_filename=receptor_path)
        vina.set_ligand_from_string(ligand["pdbqt"])
        vina.compute_vina_maps(center=center, box_size=size)
        vina.dock(exhaustiveness=int(params.get("exhaustiveness", 4)), n_poses=poses)
        models = [m for m in vina.poses(n_poses=poses).split("ENDMDL") if "MODEL" in m]
        for rank, model in enumerate(models, start=1):
            # REMARK VINA RESULT:  affinity  rmsd_lb  rmsd_ub
            affinity, rmsd_lb, rmsd_ub = map(float, re.search(r"VINA RESULT:\s+(\S+)\s+(\S+)\s+(\S+)", model).groups())
            pose = model.strip() + "\nENDMDL\n"
            artifact = upload(body["artifact_upload_url"], f"{ligand['name']}-pose-{rank}.pdbqt", pose)
            entry = {"ligand": ligand["name"], "pose_rank": rank, "affinity": affinity, "rmsd": rmsd_lb,
                     "pose_artifact_id": artifact, "metadata": {"rmsd_ub": rmsd_ub, "smiles": ligand["smiles"]}}
            if ligand.get("molecule_id"):
                entry["molecule_id"] = ligand["molecule_id"]
            results.append(entry)
    return results


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    operations = {"/prepare-ligands": prepare, "/dock": dock}

    def log_message(self, fmt, *args):
        sys.stderr.write("docking service: " + (fmt % args) + "\n")

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, {"ok": True})
        self.reply(404, {"error": "no such path"})

    def do_POST(self):
        operation = self.operations.get(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if operation is None:
            return self.reply(404, {"error": "no such operation"})
        try:
            self.reply(200, operation(body))
        except TaskError as error:
            self.reply(422, {"error": str(error)})
        except Exception as error:  # the engine records the answer and may retry
            self.reply(500, {"error": f"{type(error).__name__}: {error}"})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--exit-on-stdin-close", action="store_true",
                        help="stop when standard input closes (how the tests run it)")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    if args.exit_on_stdin_close:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        server.shutdown()
    else:
        server.serve_forever()


if __name__ == "__main__":
    main()
