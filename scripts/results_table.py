#!/usr/bin/env python3
"""Markdown tables from the JSON that `arq quantize --json` / `arq run --json` print.

  results_table.py quant DIR   -> issue 4's table (one row per sigma, policy, fine-tune)
  results_table.py run FILE... -> issue 5's comparison, mean and spread over seeds
"""
import json
import pathlib
import statistics
import sys

GRID = [0.0, 0.25, 0.5, 0.75, 1.0]


def cert_at(summary, r):
    for g, a in zip(summary["grid"], summary["certifiedAccuracy"]):
        if abs(g - r) < 1e-9:
            return a
    return float("nan")


def quant(d):
    rows = []
    for f in sorted(pathlib.Path(d).glob("*.json")):
        j = json.loads(f.read_text())
        r, p = j["result"], j["policy"]
        sigma = j["fragment"].split("sigma=")[1].split("&")[0] if "sigma=" in j["fragment"] else "0.25"
        ft = "qft=0" not in j["fragment"] and "qft=" in j["fragment"]
        label = f.stem.split("-")[2]
        rows.append((float(sigma), ["fp32", "w8a8", "w4a4", "w2a2", "fl8"].index(label), ft, label, r, p))
    rows.sort(key=lambda x: (x[0], x[1], x[2]))
    head = "| sigma | policy | fine-tune | clean acc. | " + " | ".join(f"r = {g}" for g in GRID) + " | ACR | BOPs % | size (bytes) |"
    print(head)
    print("|" + "---|" * (len(GRID) + 7))
    for sigma, _, ft, label, r, p in rows:
        s = r["summary"]
        cells = " | ".join(f"{cert_at(s, g):.3f}" for g in GRID)
        print(f"| {sigma} | {label.upper() if label != 'fl8' else 'first/last 8, rest 4'} | {'300 batches' if ft else 'none'} | "
              f"{r['testAccuracy']:.4f} | {cells} | {s['acr']:.3f} | {100 * p['cost']['ratio']:.3f} | {p['cost']['sizeBytes']} |")


def run(files):
    by = {}
    for f in files:
        j = json.loads(pathlib.Path(f).read_text())
        for row in j["rows"]:
            by.setdefault(row["name"], []).append(row)
    print("| policy | seeds | clean acc. | " + " | ".join(f"r = {g}" for g in GRID) + " | ACR | BOPs % |")
    print("|" + "---|" * (len(GRID) + 5))

    def ms(xs):
        return f"{statistics.mean(xs):.3f}" + (f" ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else "")

    for name, rows in by.items():
        cert = [ms([cert_at(r["summary"], g) for r in rows]) for g in GRID]
        print(f"| {name} | {len(rows)} | {ms([r['testAccuracy'] for r in rows])} | " + " | ".join(cert)
              + f" | {ms([r['summary']['acr'] for r in rows])} | {ms([100 * r['bopsRatio'] for r in rows])} |")


if __name__ == "__main__":
    if sys.argv[1] == "quant":
        quant(sys.argv[2])
    else:
        run(sys.argv[2:])
