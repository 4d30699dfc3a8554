#!/usr/bin/env bash
# Builds the nats-tpc Docker images (Dockerfile.scratch) for linux/amd64 and
# linux/arm64 from static binaries built on this host, and, where buildx is
# there, one multi-arch image (a manifest list) over both.
#
#   scripts/build-images.sh                    # build both, load them locally
#   scripts/build-images.sh --push -i registry.example/nats-tpc
#   scripts/build-images.sh --context-only     # stage the build context only
#   scripts/build-images.sh amd64              # one architecture
#
# Options:
#   -i, --image NAME   image name (default: nats-tpc)
#   -t, --tag TAG      tag (default: the crate version from Cargo.toml)
#   --push             push NAME:TAG-<arch> and the multi-arch NAME:TAG
#   --no-build         use the binaries already in target/docker/bin
#   --context-only     stop after staging target/docker/context (no Docker needed)
#
# Result, without --push:
#   NAME:TAG-amd64, NAME:TAG-arm64    one image per architecture, loaded locally
#   NAME:TAG and NAME:latest          the image of this host's architecture
#   target/docker/NAME-TAG.oci.tar    the multi-arch image as an OCI archive
#                                     (buildx only; push it with skopeo/crane/regctl,
#                                     or `docker load` it on a containerd image store)
# With --push the same tags go to the registry, NAME:TAG being the multi-arch one.
#
# Nothing is pulled: the image is FROM scratch, and each architecture's files
# (binary, config, CA bundle, /etc files, /tmp) come in one tar that ADD unpacks.
# Only the buildx docker-container driver, if you have to create one for a
# multi-arch build, pulls its moby/buildkit image.
#
# Environment:
#   CA_BUNDLE          the CA certificates to ship (default: the host's bundle)
#   SOURCE_DATE_EPOCH  file times in the tar (default: the last commit's time),
#                      so the same inputs give the same layer
#   OUT_DIR, CARGO_TARGET_DIR, STRIP   passed on to scripts/build-static.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

die() {
    echo "build-images: error: $*" >&2
    exit 1
}
say() { echo "build-images: $*" >&2; }

image=nats-tpc
tag=""
push=0
build=1
context_only=0
archs=()
while [ $# -gt 0 ]; do
    case "$1" in
    -i | --image) image=${2:?--image needs a name}; shift 2 ;;
    -t | --tag) tag=${2:?--tag needs a tag}; shift 2 ;;
    --push) push=1; shift ;;
    --no-build) build=0; shift ;;
    --context-only) context_only=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    x86_64 | amd64) archs+=(amd64); shift ;;
    aarch64 | arm64) archs+=(arm64); shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)

if [ -z "$tag" ]; then
    # The version under [workspace.package] in the root Cargo.toml.
    tag=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
    [ -n "$tag" ] || die "cannot read the version from Cargo.toml; pass --tag"
fi

case "$(uname -m)" in
x86_64) host_arch=amd64 ;;
aarch64 | arm64) host_arch=arm64 ;;
*) host_arch=$(uname -m) ;;
esac

bin_dir=${OUT_DIR:-$repo/target/docker/bin}
ctx=$repo/target/docker/context

# 1. The static binaries.
if [ "$build" = 1 ]; then
    "$repo/scripts/build-static.sh" "${archs[@]}" >/dev/null
fi
for a in "${archs[@]}"; do
    [ -x "$bin_dir/linux-$a/nats-server" ] ||
        die "$bin_dir/linux-$a/nats-server is missing; run scripts/build-static.sh $a"
done

# 2. The build context: rootfs-<arch>.tar for each architecture.
ca_bundle=${CA_BUNDLE:-}
if [ -z "$ca_bundle" ]; then
    # Debian/Ubuntu/Alpine (ca-certificates), Fedora/RHEL, macOS/BSD layouts.
    for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
        if [ -s "$f" ]; then ca_bundle=$f; break; fi
    done
fi
if [ -z "$ca_bundle" ] || ! grep -q 'BEGIN CERTIFICATE' "$ca_bundle"; then
    die "no CA bundle found: install ca-certificates or set CA_BUNDLE=/path/to/bundle.pem"
fi

tar --version 2>/dev/null | grep -q 'GNU tar' ||
    die "GNU tar is needed (for --sort, --owner and --mtime); install it as 'tar' on PATH"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

mkdir -p "$ctx"
for a in "${archs[@]}"; do
    root=$ctx/rootfs-$a
    rm -rf "$root"
    mkdir -p "$root/etc/ssl/certs" "$root/tmp"
    cp -R docker/rootfs/. "$root/"
    cp docker/nats-server.conf "$root/nats-server.conf"
    cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
    cp "$bin_dir/linux-$a/nats-server" "$root/nats-server"
    # Modes are set here, not inherited from the checkout's umask: readable by any
    # --user, /tmp writable by any user with the sticky bit as on every Linux.
    find "$root" -type d -exec chmod 0755 {} +
    find "$root" -type f -exec chmod 0644 {} +
    chmod 0755 "$root/nats-server"
    chmod 1777 "$root/tmp"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
        -C "$root" -cf "$ctx/rootfs-$a.tar.tmp" .
    mv "$ctx/rootfs-$a.tar.tmp" "$ctx/rootfs-$a.tar"
    rm -rf "$root"
    say "staged $ctx/rootfs-$a.tar"
done

if [ "$context_only" = 1 ]; then
    say "context staged in $ctx; build with:"
    say "  docker build --platform linux/${archs[0]} -f Dockerfile.scratch -t $image:$tag $ctx"
    exit 0
fi

# 3. The images, one per architecture. BuildKit (the default builder since
# Docker 23) sets TARGETARCH from --platform; FROM scratch + ADD runs nothing,
# so a foreign architecture needs no emulator.
command -v docker >/dev/null 2>&1 || die "no docker command; the context is staged in $ctx"
docker info >/dev/null 2>&1 ||
    die "no Docker engine answers (docker info failed); the context is staged in $ctx:
  docker build --platform linux/${archs[0]} -f Dockerfile.scratch -t $image:$tag $ctx"
if docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=1
    classic=0
else
    # An engine without buildx (Debian's docker.io 20.10) has only the classic builder:
    # it does not set TARGETARCH, so it is passed here, and --platform needs an
    # experimental daemon, so the image's architecture is recorded by the daemon's
    # default unless it matches the host.
    export DOCKER_BUILDKIT=0
    classic=1
    say "no docker buildx: using the classic builder"
fi

for a in "${archs[@]}"; do
    say "building $image:$tag-$a"
    if [ "$classic" = 1 ]; then
        if [ "$a" != "$host_arch" ]; then
            say "skipped $image:$tag-$a: the classic builder cannot label a foreign architecture"
            continue
        fi
        docker build --build-arg "TARGETARCH=$a" --build-arg "VERSION=$tag" \
            -f Dockerfile.scratch -t "$image:$tag-$a" "$ctx"
    else
        docker build --platform "linux/$a" --build-arg "VERSION=$tag" \
            -f Dockerfile.scratch -t "$image:$tag-$a" "$ctx"
    fi
done
for a in "${archs[@]}"; do
    if [ "$a" = "$host_arch" ]; then
        docker tag "$image:$tag-$a" "$image:$tag"
        docker tag "$image:$tag-$a" "$image:latest"
        say "tagged $image:$tag and $image:latest ($a)"
    fi
done
if [ "$push" = 1 ]; then
    for a in "${archs[@]}"; do docker push "$image:$tag-$a"; done
fi

# 4. The multi-arch image.
[ ${#archs[@]} -gt 1 ] || exit 0
platforms=$(printf 'linux/%s,' "${archs[@]}")
platforms=${platforms%,}
if docker buildx version >/dev/null 2>&1; then
    if [ "$push" = 1 ]; then
        out=(--push -t "$image:$tag" -t "$image:latest")
        what="pushed $image:$tag and $image:latest ($platforms)"
    else
        oci=$repo/target/docker/$(echo "$image" | tr '/:' '__')-$tag.oci.tar
        out=(--output "type=oci,dest=$oci" -t "$image:$tag")
        what="wrote $oci ($platforms)"
    fi
    if docker buildx build --platform "$platforms" --build-arg "VERSION=$tag" \
        -f Dockerfile.scratch "${out[@]}" "$ctx"; then
        say "$what"
    else
        die "the multi-arch build failed. The per-architecture images are built.
  The default buildx builder (docker driver) builds several platforms only with
  the containerd image store; otherwise create a builder once and retry:
    docker buildx create --name nats-tpc --driver docker-container --use"
    fi
elif [ "$push" = 1 ]; then
    # No buildx: a manifest list over the per-architecture tags pushed above.
    refs=()
    for a in "${archs[@]}"; do refs+=("$image:$tag-$a"); done
    docker manifest create --amend "$image:$tag" "${refs[@]}"
    docker manifest push "$image:$tag"
    say "pushed the manifest list $image:$tag (${archs[*]})"
else
    say "no docker buildx: built ${archs[*]} separately; for one multi-arch tag use --push"
    say "(docker manifest) or install buildx"
fi
