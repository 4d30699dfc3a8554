#!/usr/bin/env bash
# Builds fully static nats-server binaries for Linux (x86_64 and aarch64), the
# binaries that go into the FROM-scratch Docker image (Dockerfile.scratch).
#
#   scripts/build-static.sh              # both architectures
#   scripts/build-static.sh x86_64       # one (also: amd64, aarch64, arm64)
#
# Output: $OUT_DIR/linux-amd64/nats-server and $OUT_DIR/linux-arm64/nats-server
# (default OUT_DIR: target/docker/bin). Cargo builds in $CARGO_TARGET_DIR
# (default: target/static, so that it never waits on the lock of a developer's
# target/). Running it again rebuilds only what changed.
#
# How: glibc linked statically (-C target-feature=+crt-static), with the host's
# toolchain. glibc 2.34 and later has its "files" and "dns" name lookups inside
# libc itself, so getaddrinfo in a static binary needs no libnss_*.so at run
# time: names from /etc/hosts (docker --link) and from DNS resolve in a scratch
# image. The linker's warning that getaddrinfo "requires at runtime the shared
# libraries" is about older glibc and about other NSS sources (ldap, ...).
#
# Needs, per target:
#   x86_64:  rustup target x86_64-unknown-linux-gnu; on an x86_64 host the
#            usual gcc and libc6-dev (glibc's libc.a).
#   aarch64: rustup target aarch64-unknown-linux-gnu; on an x86_64 host the
#            cross compiler and arm64 glibc:
#              apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#   optional: qemu-user-static, to run the foreign binary's -v as a check.
#
# Environment:
#   OUT_DIR            where the binaries are copied (default target/docker/bin)
#   CARGO_TARGET_DIR   cargo's build directory (default target/static)
#   STRIP              cargo's strip setting for the release profile
#                      (default debuginfo: keeps symbol names for backtraces,
#                      drops the line tables, about 4x smaller)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

out_dir=${OUT_DIR:-$repo/target/docker/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/static}
export CARGO_PROFILE_RELEASE_STRIP=${STRIP:-debuginfo}

die() {
    echo "build-static: error: $*" >&2
    exit 1
}

# Maps a user's architecture name to: <rust triple> <docker arch> <gcc prefix>
# <uname -m> <Debian/Ubuntu packages of the cross compiler and glibc, joined by +>.
arch_info() {
    case "$1" in
    x86_64 | amd64) echo "x86_64-unknown-linux-gnu amd64 x86_64-linux-gnu x86_64 gcc-x86-64-linux-gnu+libc6-dev-amd64-cross" ;;
    aarch64 | arm64) echo "aarch64-unknown-linux-gnu arm64 aarch64-linux-gnu aarch64 gcc-aarch64-linux-gnu+libc6-dev-arm64-cross" ;;
    *) die "unknown architecture '$1' (use x86_64/amd64 or aarch64/arm64)" ;;
    esac
}

host_arch=$(uname -m)

# Makes sure rustup has the target's standard library; rustup can only fetch it
# where its distribution server is reachable, so say exactly what is missing.
ensure_rust_target() {
    local triple=$1
    if ! command -v rustup >/dev/null 2>&1; then
        # A toolchain without rustup (distribution packages): trust it, cargo
        # will say "can't find crate for std" if the target is missing.
        return 0
    fi
    if rustup target list --installed | grep -qx "$triple"; then
        return 0
    fi
    echo "build-static: installing the Rust standard library for $triple" >&2
    if ! rustup target add "$triple"; then
        die "the Rust standard library for $triple is not installed and rustup could not fetch it.
  Run 'rustup target add $triple' on a machine that reaches the Rust distribution
  server (or copy the toolchain's lib/rustlib/$triple over), or build the other
  architecture only: scripts/build-static.sh $host_arch"
    fi
}

# Prints the C compiler (and so the linker) for a target: the plain one for the
# host's own architecture, the Debian/Ubuntu cross compiler otherwise.
c_compiler() {
    local gcc_prefix=$1 qemu_name=$2 packages=$3
    if [ "$qemu_name" = "$host_arch" ]; then
        echo "${CC:-cc}"
        return 0
    fi
    local cross="$gcc_prefix-gcc"
    command -v "$cross" >/dev/null 2>&1 ||
        die "no cross compiler $cross for a $host_arch host.
  On Debian/Ubuntu: apt-get update && apt-get install ${packages//+/ }"
    echo "$cross"
}

build_one() {
    local info triple docker_arch gcc_prefix qemu_name packages
    info=$(arch_info "$1")
    read -r triple docker_arch gcc_prefix qemu_name packages <<<"$info"

    ensure_rust_target "$triple"
    local cc ar
    cc=$(c_compiler "$gcc_prefix" "$qemu_name" "$packages")
    case "$cc" in
    *-gcc) ar="${cc%-gcc}-ar" ;;
    *) ar="${AR:-ar}" ;;
    esac

    # Cargo and the cc crate read per-target variables; upper-case triple with _.
    local triple_env triple_cc
    triple_env=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    triple_cc=$(echo "$triple" | tr '-' '_')

    echo "build-static: building $triple (cc: $cc)" >&2
    # RUSTFLAGS with --target applies to the target only, not to build scripts
    # and proc macros, which stay dynamic host binaries as they must.
    env "CARGO_TARGET_${triple_env}_LINKER=$cc" \
        "CC_${triple_cc}=$cc" \
        "AR_${triple_cc}=$ar" \
        RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
        cargo build --release --locked --target "$triple" --bin nats-server

    local bin="$CARGO_TARGET_DIR/$triple/release/nats-server"
    [ -f "$bin" ] || die "cargo finished but $bin is missing"

    # A static binary has no program interpreter (no PT_INTERP / ld.so); file(1)
    # says "statically linked" or, for a static PIE, "static-pie linked".
    if command -v file >/dev/null 2>&1; then
        local what
        what=$(file -b "$bin")
        case "$what" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) die "$bin is not static: $what" ;;
        esac
    fi
    if command -v readelf >/dev/null 2>&1 && readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
        die "$bin asks for a program interpreter, so it is not static"
    fi

    # Run -v: natively, or through qemu-user for the other architecture.
    # (qemu-user has no io_uring, so -v is as far as an emulated check goes.)
    local runner=""
    if [ "$qemu_name" != "$host_arch" ]; then
        runner=$(command -v "qemu-$qemu_name-static" || command -v "qemu-$qemu_name" || true)
    fi
    if [ "$qemu_name" = "$host_arch" ] || [ -n "$runner" ]; then
        local version
        version=$($runner "$bin" -v) || die "$bin -v failed"
        echo "build-static: $triple: $version" >&2
    else
        echo "build-static: $triple: not run (no qemu-$qemu_name-static on this $host_arch host)" >&2
    fi

    mkdir -p "$out_dir/linux-$docker_arch"
    install -m 0755 "$bin" "$out_dir/linux-$docker_arch/nats-server"
    echo "$out_dir/linux-$docker_arch/nats-server"
}

archs=("$@")
if [ ${#archs[@]} -eq 0 ] || [ "${archs[0]}" = all ]; then
    archs=(x86_64 aarch64)
fi
for a in "${archs[@]}"; do
    build_one "$a"
done
