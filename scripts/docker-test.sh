#!/usr/bin/env bash
# Builds the nats-tpc image (Dockerfile.scratch) and checks it with a real Docker
# engine, as a user of the official `nats` image would use it (spec §1, D-01..D-04):
#   - default CMD: client port 4222 and monitor 8222 reachable through published
#     ports, /healthz answers, INFO says cluster "my_cluster", logs on stderr;
#   - the shipped seccomp profile runs it without --privileged;
#   - arguments replace CMD (`docker run img -p 4333` runs without the config);
#   - a non-root user id runs it;
#   - the seeds' two-container cluster (--link, --routes=nats-route://ruser:T0pS3cr3t@...)
#     forms and carries messages;
#   - `docker stop` ends it quickly with exit 0;
#   - the aarch64 static binary is built and is an ARM aarch64 executable.
#
#   scripts/docker-test.sh            # build (amd64 image + arm64 binary), then test
#   scripts/docker-test.sh --no-build # test the image already built
#
# Needs a Docker engine. Where none runs and this is root with dockerd installed
# (Debian: apt-get install docker.io), it starts one for the run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

build=1
[ "${1:-}" = "--no-build" ] && build=0

say() { echo "docker-test: $*" >&2; }
fail() {
    say "FAIL: $*"
    exit 1
}
pass() { say "ok: $*"; }

started_dockerd=""
if ! docker info >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
        say "no Docker engine answers; starting dockerd for this run"
        dockerd >/tmp/docker-test-dockerd.log 2>&1 &
        started_dockerd=$!
        for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
        docker info >/dev/null 2>&1 || fail "dockerd did not start (see /tmp/docker-test-dockerd.log)"
    else
        fail "no Docker engine (docker info failed)"
    fi
fi

tag=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
case "$(uname -m)" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) fail "unsupported host architecture $(uname -m)" ;;
esac
img=nats-tpc:$tag-$arch

if [ "$build" = 1 ]; then
    scripts/build-images.sh "$arch"
    if [ "$arch" = amd64 ]; then
        if scripts/build-static.sh arm64 >/dev/null 2>/tmp/docker-test-arm64.log; then
            :
        else
            say "arm64 build failed (needs gcc-aarch64-linux-gnu); see /tmp/docker-test-arm64.log"
        fi
    fi
fi
docker image inspect "$img" >/dev/null 2>&1 || fail "image $img is missing"

seccomp=$repo/docker/seccomp-io_uring.json
names=(nt-main nt-2 nt-args nt-user)
cleanup() {
    docker rm -f "${names[@]}" >/dev/null 2>&1 || true
    if [ -n "$started_dockerd" ]; then kill "$started_dockerd" 2>/dev/null || true; fi
}
trap cleanup EXIT
docker rm -f "${names[@]}" >/dev/null 2>&1 || true

# `--ulimit memlock=-1` as README.md advises, where the engine may raise the limit; an
# engine that runs without that privilege (as here, in a sandbox) keeps its own limit,
# which must be at least glommio's 512 KiB.
memlock=(--ulimit memlock=-1)
if [ "$(ulimit -H -l)" != unlimited ]; then
    say "memlock hard limit is $(ulimit -H -l) KiB here: running without --ulimit memlock=-1"
    memlock=()
fi
run() { # name, docker args..., image, image args...
    local name=$1
    shift
    docker run -d --name "$name" --security-opt "seccomp=$seccomp" "${memlock[@]}" "$@" >/dev/null
}
wait_log() { # name, text
    for _ in $(seq 1 100); do
        docker logs "$1" 2>&1 | grep -q "$2" && return 0
        sleep 0.1
    done
    docker logs "$1" >&2 || true
    return 1
}
host_port() { # name, container port
    docker port "$1" "$2/tcp" | head -1 | sed 's/.*://'
}
# First line the server sends on a new connection (its INFO).
info_line() { # port
    python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
buf = b""
while b"\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.split(b"\r\n")[0].decode())
' "$1" || true
}
# PUB on one connection, SUB on another, both through published ports.
roundtrip() { # sub port, pub port
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
def conn(p):
    s = socket.create_connection(("127.0.0.1", int(p)), timeout=5)
    s.recv(4096)
    s.sendall(b'CONNECT {"verbose":false}\r\n')
    return s
sub, pub = conn(sys.argv[1]), conn(sys.argv[2])
sub.sendall(b"SUB docker.test 1\r\nPING\r\n")
assert sub.recv(4096).startswith(b"PONG"), "no PONG"
deadline = time.time() + 10
buf = b""
while time.time() < deadline and b"MSG docker.test 1 5" not in buf:
    pub.sendall(b"PUB docker.test 5\r\nhello\r\n")
    sub.settimeout(0.5)
    try:
        buf += sub.recv(4096)
    except socket.timeout:
        pass
assert b"MSG docker.test 1 5\r\nhello" in buf, buf
EOF
}

# 1. Default CMD, published ports, seccomp profile instead of --privileged (D-01, D-04).
run nt-main -p 127.0.0.1::4222 -p 127.0.0.1::8222 -p 127.0.0.1::6222 "$img"
wait_log nt-main "Server is ready" || fail "default config did not start"
pass "started with the default config under the shipped seccomp profile, no --privileged"
cport=$(host_port nt-main 4222)
mport=$(host_port nt-main 8222)
info=$(info_line "$cport")
echo "$info" | grep -q '"cluster":"my_cluster"' || fail "INFO without cluster my_cluster: $info"
pass "client connects through the published port; INFO has cluster my_cluster"
curl -fsS "http://127.0.0.1:$mport/healthz" | grep -q '"status":"ok"' || fail "/healthz"
pass "/healthz answers on the published monitor port"
docker logs nt-main 2>/dev/null | grep -q "Server is ready" && fail "logs went to stdout"
docker logs nt-main 2>&1 >/dev/null | grep -q "Listening for client connections on 0.0.0.0:4222" ||
    fail "start-up lines missing from stderr"
pass "logs on stderr with the start-up lines"

# 2. The seeds' second server: --link and a route with the default route credentials.
run nt-2 --link nt-main -p 127.0.0.1::4222 "$img" \
    -c nats-server.conf --routes=nats-route://ruser:T0pS3cr3t@nt-main:6222
wait_log nt-2 "Server is ready" || fail "second server did not start"
for _ in $(seq 1 100); do
    n=$(curl -fsS "http://127.0.0.1:$mport/routez" | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_routes"])')
    [ "$n" -ge 1 ] && break
    sleep 0.1
done
[ "$n" -ge 1 ] || fail "the two containers did not form a cluster"
roundtrip "$cport" "$(host_port nt-2 4222)" || fail "no message across the route"
pass "two-container cluster forms (--link, --routes) and carries messages"

# 3. Arguments replace CMD (D-02): no config, so no monitor and no cluster.
run nt-args -p 127.0.0.1::4333 "$img" -p 4333
wait_log nt-args "Listening for client connections on 0.0.0.0:4333" || fail "args did not replace CMD"
docker logs nt-args 2>&1 | grep -q "Starting http monitor" && fail "monitor started without the config"
pass "arguments replace CMD"
docker run --rm "$img" -v 2>&1 | grep -q "^nats-server: v" || fail "-v"
pass "docker run img -v prints the version"

# 4. A non-root user id.
run nt-user --user 1000:1000 "$img" -p 4222
wait_log nt-user "Server is ready" || fail "does not run as uid 1000"
pass "runs as a non-root user (uid 1000)"

# 5. docker stop: SIGTERM to PID 1, quick exit 0 (D-03).
start=$(date +%s.%N)
docker stop -t 10 nt-main >/dev/null
took=$(echo "$(date +%s.%N) - $start" | bc)
code=$(docker inspect -f '{{.State.ExitCode}}' nt-main)
[ "$code" = 0 ] || fail "docker stop: exit code $code"
awk "BEGIN{exit !($took < 5)}" || fail "docker stop took ${took}s"
pass "docker stop: exit 0 in ${took}s"

# 6. The aarch64 binary.
a64=${OUT_DIR:-$repo/target/docker/bin}/linux-arm64/nats-server
if [ -x "$a64" ]; then
    file "$a64" | grep -q "ARM aarch64" || fail "$a64 is not an aarch64 binary: $(file "$a64")"
    pass "aarch64 static binary: $(file -b "$a64" | cut -d, -f1-2)"
else
    say "skipped: no aarch64 binary at $a64"
fi
say "all checks passed"
