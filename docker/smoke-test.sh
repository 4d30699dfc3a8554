#!/usr/bin/env bash
# Checks the image's root filesystem without Docker, on Linux, as root.
#
#   scripts/build-images.sh --context-only amd64 && docker/smoke-test.sh
#   docker/smoke-test.sh target/docker/context/rootfs-amd64.tar
#
# It unpacks rootfs-<arch>.tar (exactly what Dockerfile.scratch ADDs) and runs
# /nats-server in it the way `docker run` would: chrooted into that root, as
# PID 1 of new PID, network and mount namespaces (so port 4222 is free and
# nothing of the host shows), with /proc and /sys mounted, cwd /, the image's
# PATH, and, where it says so, under docker/seccomp-io_uring.json, with a
# non-root user id or with a low memlock limit. What it cannot show: Docker's
# own part (ENTRYPOINT/CMD handling, --link, port publishing, its seccomp
# loader); see README.md, "## Docker".
#
# Needs: root, util-linux (unshare, prlimit), GNU tar, and for the seccomp
# checks /usr/bin/python3 with python3-seccomp (skipped without it).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac
tarball=${1:-$repo/target/docker/context/rootfs-$arch.tar}
profile=$repo/docker/seccomp-io_uring.json
image_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/

[ "$(id -u)" = 0 ] || { echo "smoke-test: needs root (unshare, chroot)" >&2; exit 1; }
[ -f "$tarball" ] || { echo "smoke-test: no $tarball; run scripts/build-images.sh --context-only $arch" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
tar -C "$root" -xpf "$tarball"
# Docker creates these mount points in every container; the image has none.
mkdir -p "$root/proc" "$root/sys" "$root/dev"

passed=0
failed=0
ok() { echo "ok   - $*"; passed=$((passed + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { # what command...: ok if the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# 1. Layout and modes, as tar recorded them (what the image gets).
listing=$(tar -tvf "$tarball")
expect_entry() { # mode-prefix path what
    if grep -Eq "^$1 0/0 .* \./$2\$" <<<"$listing"; then ok "$3"; else bad "$3 ($1 $2 missing)"; fi
}
expect_entry '-rwxr-xr-x' 'nats-server' '/nats-server, 0755 root'
expect_entry '-rw-r--r--' 'nats-server\.conf' '/nats-server.conf, 0644 root'
expect_entry 'drwxrwxrwt' 'tmp/' '/tmp, 1777 (writable by any user)'
expect_entry '-rw-r--r--' 'etc/ssl/certs/ca-certificates\.crt' 'CA bundle at /etc/ssl/certs/ca-certificates.crt'
expect_entry '-rw-r--r--' 'etc/passwd' '/etc/passwd'
expect_entry '-rw-r--r--' 'etc/nsswitch\.conf' '/etc/nsswitch.conf'
if grep -q 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt"; then ok "CA bundle holds certificates"; else bad "CA bundle is empty"; fi
if cmp -s "$root/nats-server.conf" "$repo/docker/nats-server.conf"; then ok "config is docker/nats-server.conf"; else bad "config differs"; fi
what=$(file -b "$root/nats-server" 2>/dev/null || echo unknown)
case "$what" in
*"statically linked"* | *"static-pie linked"* | unknown) ok "binary is static ($what)" ;;
*) bad "binary is not static: $what" ;;
esac

# Runs /nats-server in the container-like sandbox, in the background.
#   start [--user U:G] [--memlock BYTES] [--seccomp] [--seccomp-docker-default] -- ARGS...
# Sets $pid (the sandbox's PID 1, as seen from here), $upid (unshare), and
# $out and $err (its stdout and stderr). Without --memlock the limit is this
# shell's, as a container's is dockerd's unless --ulimit memlock says otherwise.
runs=0
start() {
    local user=0:0 limit=() wrap=()
    while [ "$1" != -- ]; do
        case "$1" in
        --user) user=$2; shift 2 ;;
        --memlock) limit=(prlimit "--memlock=$2"); shift 2 ;;
        --seccomp) wrap=(/usr/bin/python3 "$repo/docker/seccomp-exec.py" "$profile" --); shift ;;
        --seccomp-docker-default)
            # shellcheck disable=SC2054 # the commas belong to --without's value
            wrap=(/usr/bin/python3 "$repo/docker/seccomp-exec.py"
                --without io_uring_setup,io_uring_enter,io_uring_register "$profile" --)
            shift ;;
        *) echo "smoke-test: start: unknown option $1" >&2; exit 2 ;;
        esac
    done
    shift
    runs=$((runs + 1))
    out=$work/$runs.out err=$work/$runs.err
    # sh is PID 1 only until exec: it mounts /proc and /sys (read-only, as
    # Docker does), brings up lo, then execs into chroot (and, with a profile,
    # the seccomp loader first), which execs /nats-server as PID 1.
    # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
    env -i PATH="$image_path" "${limit[@]}" \
        unshare --pid --fork --net --mount \
        /bin/sh -c 'r=$1; shift
            mount -t proc proc "$r/proc" && mount -t sysfs -o ro sysfs "$r/sys" || exit 97
            ip link set lo up || exit 98
            exec "$@"' sh "$root" "${wrap[@]}" \
        /usr/sbin/chroot --userspec="$user" "$root" /nats-server "$@" >"$out" 2>"$err" &
    upid=$!
    pid=""
    for _ in $(seq 50); do
        pid=$(tr -d ' ' 2>/dev/null <"/proc/$upid/task/$upid/children") || true
        [ -n "$pid" ] && break
        sleep 0.05
    done
}

# Waits up to 5 s for "Server is ready" on stderr; fails if the server exits first.
wait_ready() {
    for _ in $(seq 100); do
        grep -q 'Server is ready' "$err" && return 0
        kill -0 "$upid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# Sends SIGTERM (docker stop) or $STOP_SIGNAL to PID 1 and expects exit 0 within 2 s.
stop_expect_0() {
    local what=$1 sig=${STOP_SIGNAL:-TERM} t0 rc=0
    t0=$(date +%s%N)
    kill "-$sig" "$pid"
    wait "$upid" || rc=$?
    local ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$rc" = 0 ] && [ "$ms" -lt 2000 ]; then
        ok "$what: SIG$sig to PID 1 -> exit 0 in ${ms} ms"
    else
        bad "$what: SIG$sig to PID 1 -> exit $rc in ${ms} ms"
    fi
    if [ -s "$out" ]; then bad "$what: wrote to stdout (logs belong on stderr)"; fi
}

# A client inside the sandbox's network namespace: INFO, then SUB, PUB, PING.
probe() {
    # shellcheck disable=SC2016 # the inner bash expands these
    nsenter --net="/proc/$pid/ns/net" /bin/bash -c '
        exec 3<>/dev/tcp/127.0.0.1/4222 || exit 1
        IFS= read -r -t 2 info <&3 || exit 1
        printf "CONNECT {\"verbose\":false}\r\nSUB smoke 1\r\nPUB smoke 5\r\nhello\r\nPING\r\n" >&3
        IFS= read -r -t 2 a <&3; IFS= read -r -t 2 b <&3; IFS= read -r -t 2 c <&3
        cr=$(printf "\r")
        printf "%s|%s|%s|%s" "${info%% *}" "${a%"$cr"}" "${b%"$cr"}" "${c%"$cr"}"'
}

# Runs, expects a start, serves a client, checks PID 1 and stops it.
serve() { # what start-options... -- args...
    local what=$1
    shift
    start "$@"
    if wait_ready; then
        local pid1
        pid1=$(sed -n 's/^\[\([0-9]*\)\].*Server is ready.*/\1/p' "$err" | head -1)
        if [ "$pid1" = 1 ]; then ok "$what: ready, logging as PID 1 on stderr"; else bad "$what: logged pid '$pid1', not 1"; fi
        local got
        got=$(probe 2>&1) || true
        if [ "$got" = "INFO|MSG smoke 1 5|hello|PONG" ]; then
            ok "$what: a client gets INFO, its message back, and PONG"
        else
            bad "$what: client exchange: '$got'"
        fi
        stop_expect_0 "$what"
    else
        bad "$what: did not start: $(tail -2 "$err")"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$upid" 2>/dev/null || true
    fi
}

# Runs, expects exit 1 and a message matching a regex on stderr.
refuse() { # what regex start-options... -- args...
    local what=$1 re=$2 rc=0
    shift 2
    start "$@"
    wait "$upid" || rc=$?
    if [ "$rc" = 1 ] && grep -Eq "$re" "$err"; then
        ok "$what: exit 1: $(grep -Eo "$re" "$err" | head -1)"
    else
        bad "$what: exit $rc, stderr: $(tail -2 "$err")"
    fi
}

# 2. The binary runs in the empty root.
start -- -v
rc=0
wait "$upid" || rc=$?
check "-v in the empty root: $(cat "$out" "$err")" test "$rc" = 0

# 3. docker run IMAGE (CMD --config nats-server.conf, relative to /). Until the
# monitor and clustering land, nats-tpc refuses this config with a message.
start -- --config nats-server.conf
if wait_ready; then
    check "default CMD: listening on 0.0.0.0:4222" \
        grep -q 'Listening for client connections on 0.0.0.0:4222' "$err"
    stop_expect_0 "default CMD"
else
    wait "$upid" || true
    echo "skip - default CMD: $(tail -1 "$err")"
fi

# 4. docker run IMAGE -p 4222 (arguments replace CMD), as root, nats and nobody.
serve "args replace CMD (-p 4222)" -- -p 4222
serve "--user 1000:1000 (nats)" --user 1000:1000 -- -p 4222
serve "--user 65534:65534 (nobody)" --user 65534:65534 -- -p 4222
# Ctrl-C on `docker run -it` reaches PID 1 as SIGINT.
STOP_SIGNAL=INT serve "Ctrl-C" -- -p 4222

# 5. Memlock: Docker's default limit may be too low for io_uring's registered
# buffers; --ulimit memlock=-1 is the cure, and the error must say so.
refuse "memlock 64 KiB" 'ulimit -l|memlock' --memlock 65536 -- -p 4222
check "the memlock error names --ulimit memlock=-1" grep -q 'memlock=-1' "$err"

# 6. Seccomp: Docker 25+'s default profile blocks io_uring; ours allows it.
if /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
    serve "seccomp=docker/seccomp-io_uring.json" --seccomp -- -p 4222
    serve "seccomp profile, --user 1000:1000" --seccomp --user 1000:1000 -- -p 4222
    refuse "Docker's default profile (no io_uring)" 'io_uring_setup was refused' --seccomp-docker-default -- -p 4222
    check "the io_uring error points at --security-opt seccomp=" grep -q 'security-opt seccomp=' "$err"
    check "the io_uring error points at README.md" grep -q 'README.md' "$err"
else
    echo "skip - seccomp checks: /usr/bin/python3 has no seccomp module (apt-get install python3-seccomp)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
