#!/usr/bin/env python3
"""Independent reference for the CNN engine's forward pass (numpy, float64).

Builds the two zoo models of docs/method.md section 8 with parameters given by a closed formula, runs three
fixed inputs through them with a direct (non-im2col) convolution, and writes the logits to
tests/data/golden_forward.json, which tests/golden_forward.rs compares against.

Parameters, in the engine's flat order (per layer: weight [out, in, kh, kw] or [out, in], then
bias): p[i] = 0.1 * sin(0.37 * i). Input b, pixel j: x = ((7 j + 13 b) mod 29) / 28.
Regenerate: python3 scripts/gen_golden_forward.py
"""
import json
import numpy as np

ZOO = {
    "lenet": [("conv", 1, 6, 5, 1, 0), ("relu",), ("pool", 2), ("conv", 6, 16, 5, 1, 0), ("relu",),
              ("pool", 2), ("flat",), ("fc", 256, 120), ("relu",), ("fc", 120, 84), ("relu",), ("fc", 84, 10)],
    "cnn3": [("conv", 1, 16, 3, 1, 1), ("relu",), ("conv", 16, 32, 3, 2, 1), ("relu",),
             ("conv", 32, 64, 3, 2, 1), ("relu",), ("flat",), ("fc", 3136, 10)],
}


def params(layers):
    sizes = []
    for l in layers:
        if l[0] == "conv":
            sizes += [l[2] * l[1] * l[3] * l[3], l[2]]
        elif l[0] == "fc":
            sizes += [l[2] * l[1], l[2]]
    total = sum(sizes)
    p = (0.1 * np.sin(0.37 * np.arange(total, dtype=np.float64))).astype(np.float32).astype(np.float64)
    return p


def conv(x, w, b, stride, pad):
    c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.zeros((c, h + 2 * pad, wd + 2 * pad))
    xp[:, pad:pad + h, pad:pad + wd] = x
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((o, oh, ow))
    for y in range(oh):
        for z in range(ow):
            patch = xp[:, y * stride:y * stride + k, z * stride:z * stride + k]
            out[:, y, z] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def forward(layers, p, x):
    off = 0
    for l in layers:
        if l[0] == "conv":
            _, cin, cout, k, s, pad = l
            w = p[off:off + cout * cin * k * k].reshape(cout, cin, k, k); off += w.size
            b = p[off:off + cout]; off += cout
            x = conv(x, w, b, s, pad)
        elif l[0] == "fc":
            _, fin, fout = l
            w = p[off:off + fout * fin].reshape(fout, fin); off += w.size
            b = p[off:off + fout]; off += fout
            x = w @ x + b
        elif l[0] == "relu":
            x = np.maximum(x, 0)
        elif l[0] == "pool":
            k = l[1]
            c, h, wd = x.shape
            x = x[:, :h // k * k, :wd // k * k].reshape(c, h // k, k, wd // k, k).max(axis=(2, 4))
        elif l[0] == "flat":
            x = x.reshape(-1)
    return x


def main():
    out = {"formula": "p[i] = 0.1*sin(0.37*i) as f32; x[b][j] = ((7j + 13b) mod 29)/28", "models": {}}
    for name, layers in ZOO.items():
        p = params(layers)
        logits = []
        for b in range(3):
            j = np.arange(784)
            x = (((7 * j + 13 * b) % 29) / 28.0).astype(np.float32).astype(np.float64).reshape(1, 28, 28)
            logits.append([float(v) for v in forward(layers, p, x)])
        out["models"][name] = {"params": int(p.size), "logits": logits}
    with open("tests/data/golden_forward.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
