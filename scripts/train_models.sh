#!/usr/bin/env bash
# Regenerates every shipped checkpoint in models/ (content-addressed names + models/index.json).
# One CLI command per checkpoint; each is deterministic for its fragment (same engine version,
# same bytes). Takes about 15 minutes on 2 cores for lenet and cnn3, plus about 12 for resnet
# (`make models`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin arq
ARQ=target/release/arq
for sigma in 0.12 0.25 0.5; do
  $ARQ train --quiet --url "#v=1&model=lenet&sigma=$sigma&epochs=30" --out models
  $ARQ train --quiet --url "#v=1&model=cnn3&sigma=$sigma&epochs=30" --out models
done
# the resnet (5 MMACs per image, 2.6x cnn3) gets 12 epochs: about 4 minutes each
for sigma in 0.12 0.25 0.5; do
  $ARQ train --quiet --url "#v=1&model=resnet&sigma=$sigma&epochs=12" --out models
done
