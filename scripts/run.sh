#!/usr/bin/env bash
# Builds nats-tpc in release mode and starts it with nats-server's defaults (clients on
# 0.0.0.0:4222, one shard per usable CPU). Extra arguments go to the server, e.g.
#   scripts/run.sh -p 4333 -DV
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin nats-server
exec target/release/nats-server "$@"
