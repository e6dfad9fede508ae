#!/usr/bin/env python3
"""Issue 11's evidence table from the `arq run --json` files of one experiment over seeds.

  evidence_table.py DIR   (DIR/run-seed*.json, written by scripts/evidence.sh)

Rows by role (FP32, best uniform within the budget, ARQ, HAQ reward, random): mean +- sd over
seeds of clean accuracy, certified accuracy at r = 0.25, 0.5, 0.75, ACR, ACR / FP32 and BOPs;
then ARQ against each other row: how many seeds' paired bootstrap intervals (over points,
from `arq run`) put ARQ significantly above / below / neither, and the mean difference over
seeds with a t-interval over seeds (a seed = a whole pipeline run).
"""
import json
import math
import pathlib
import statistics
import sys

GRID = [0.25, 0.5, 0.75]
ROLES = ["FP32", "uniform", "ARQ", "HAQ reward", "random"]
# two-sided 97.5 % quantiles of Student's t, by degrees of freedom
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def role(name):
    return "uniform" if name.startswith("uniform") else name


def cert_at(s, r):
    for g, a in zip(s["grid"], s["certifiedAccuracy"]):
        if abs(g - r) < 1e-9:
            return a
    return float("nan")


def ms(xs, fmt="{:.3f}"):
    m = fmt.format(statistics.mean(xs))
    return m + (" ± " + fmt.format(statistics.stdev(xs)) if len(xs) > 1 else "")


def main(d):
    runs = [json.loads(f.read_text()) for f in sorted(pathlib.Path(d).glob("run-seed*.json"))]
    if not runs:
        sys.exit(f"no run-seed*.json in {d}")
    seeds = [r["fragment"].split("seed=")[1].split("&")[0] if "seed=" in r["fragment"] else "1" for r in runs]
    print(f"`{runs[0]['fragment'].split('&seed=')[0]}`, seeds {', '.join(seeds)}\n")
    by = {}
    for r in runs:
        fp = next(x for x in r["rows"] if x["name"] == "FP32")["summary"]["acr"]
        for x in r["rows"]:
            by.setdefault(role(x["name"]), []).append((x, fp))
    print("| policy | seeds | clean acc. | " + " | ".join(f"r = {g}" for g in GRID) + " | ACR | ACR / FP32 | BOPs % | policies |")
    print("|---|---:|---:|" + "---:|" * len(GRID) + "---:|---:|---:|---|")
    for k in ROLES:
        rows = by.get(k, [])
        if not rows:
            continue
        xs = [x for x, _ in rows]
        pol = sorted({x["name"].split(" (")[0].replace("uniform ", "") if k == "uniform" else x["fragment"] for x in xs})
        print(f"| {k} | {len(xs)} | {ms([x['testAccuracy'] for x in xs])} | "
              + " | ".join(ms([cert_at(x["summary"], g) for x in xs]) for g in GRID)
              + f" | {ms([x['summary']['acr'] for x in xs])} | {ms([x['summary']['acr'] / fp for x, fp in rows])}"
              + f" | {ms([100 * x['bopsRatio'] for x in xs])} | {'; '.join(pol) if k == 'uniform' else str(len(pol)) + ' distinct'} |")
    pts = runs[0]["significance"]["points"]
    print(f"\nARQ against each row (ACR, paired bootstrap over the {pts} points within each seed; "
          "t-interval over seeds of the per-seed differences):\n")
    print("| ARQ minus | ARQ significantly higher | lower | neither | mean difference [95 % t-interval over seeds] |")
    print("|---|---:|---:|---:|---|")
    for k in ROLES:
        if k == "ARQ":
            continue
        hi = lo = nn = 0
        diffs = []
        for r in runs:
            sig = {x["name"]: x for x in r["significance"]["rows"]}
            row = next((x for x in r["rows"] if role(x["name"]) == k), None)
            if row is None or "ARQ" not in sig:
                continue
            if k == "FP32":
                iv = sig["ARQ"]["vsFp32"]["acr"]
                d, lo_, hi_ = iv["diff"], iv["low"], iv["high"]
            else:
                iv = sig[row["name"]]["vsArq"]["acr"]  # row minus ARQ
                d, lo_, hi_ = -iv["diff"], -iv["high"], -iv["low"]
            diffs.append(d)
            if lo_ > 0:
                hi += 1
            elif hi_ < 0:
                lo += 1
            else:
                nn += 1
        if not diffs:
            continue
        m = statistics.mean(diffs)
        ci = ""
        if len(diffs) > 1:
            h = T975.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(len(diffs))
            ci = f" [{m - h:+.4f}, {m + h:+.4f}]"
        print(f"| {k} | {hi} | {lo} | {nn} | {m:+.4f}{ci} |")


if __name__ == "__main__":
    main(sys.argv[1])
