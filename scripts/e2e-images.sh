#!/usr/bin/env bash
# Build every image the kind end-to-end suite runs, from Debian packages, Go modules and PyPI
# only (no container registry is needed or used), and keep them per machine by version:
#
#   kind node    kind v0.30.0's base image recipe on Debian bookworm, containerd and crictl
#                from their Go modules, and Kubernetes (the cluster tier's pin) with its control
#                plane images, etcd, CoreDNS, pause, local-path-provisioner and a one-node CNI
#   traefik      the Ingress controller
#   postgres     Debian's PostgreSQL with the official image's contract (POSTGRES_* variables)
#   botgateway   this checkout's Dockerfile on Debian's Python, from wheels fetched beforehand
#
#   bash scripts/e2e-images.sh            # build what is missing; print the image names
#   bash scripts/e2e-images.sh --names    # print the image names (KEY=image) and exit
#
# A step whose result exists is skipped, so a second run builds only the botgateway image (its
# input is this checkout). Each step prints its time. The Go builds run one at a time (they use
# both cores) while the Debian root filesystems are fetched beside them.
#
# Environment:
#   BOTGATEWAY_E2E_CACHE   binaries and work files (default ${XDG_CACHE_HOME:-~/.cache}/botgateway/e2e)
#   DEBIAN_MIRROR          where debootstrap fetches from (default: the machine's apt source)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly IMAGES="$ROOT/tests/e2e/images"
CACHE="${BOTGATEWAY_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/botgateway/e2e}"
readonly CACHE
readonly LOGS="$CACHE/logs"

readonly SUITE=bookworm
# The cluster tier's pins (one Kubernetes version for every tier), read once.
PINS="$(bash "$ROOT/scripts/cluster-tools.sh" --versions)"
pin() { awk -v tool="$1" '$1 == tool {print $2}' <<<"$PINS"; }
KUBE_VERSION="$(pin kube-apiserver)"
ETCD_VERSION="$(pin etcd)"
KIND_VERSION="$(pin kind)"
readonly PINS KUBE_VERSION ETCD_VERSION KIND_VERSION
# kind v0.30.0's pins (images/base/Dockerfile), except crictl: v1.33.0 is not served by the
# module proxy, v1.34.0 is.
readonly CONTAINERD_VERSION=v2.1.4
readonly CRICTL_VERSION=v1.34.0
# What kubeadm v1.32 deploys (cmd/kubeadm/app/constants).
readonly COREDNS_VERSION=v1.11.3
readonly PAUSE_VERSION=3.10
readonly LOCAL_PATH_VERSION=v0.0.30
# The newest Traefik whose whole dependency graph the Go module proxy serves: v3.7.x needs
# DNS-provider SDK versions (through lego) and a fork commit that it does not.
readonly TRAEFIK_VERSION=v3.6.12

# The names kind v0.30.0's node image build expects to find preloaded (pkg/build/nodeimage).
readonly KINDNETD_NAME=docker.io/kindest/kindnetd:v20250512-df8de77b
readonly LOCAL_PATH_NAME=docker.io/kindest/local-path-provisioner:v20250214-acbabc1a
readonly LOCAL_PATH_HELPER_NAME=docker.io/kindest/local-path-helper:v20241212-8ac705d0

say() { printf 'e2e-images: %s\n' "$*"; }
die() { printf 'e2e-images: error: %s\n' "$*" >&2; exit 1; }

# A short digest of a step's inputs: files (recipes) and words (versions). A changed recipe
# gives a new tag, so a stale image is never reused.
recipe_hash() {
    local item
    for item in "$@"; do
        if [[ -d "$item" ]]; then
            (cd "$item" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
        elif [[ -f "$item" ]]; then
            sha256sum <"$item"
        else
            echo "$item"
        fi
    done | sha256sum | cut -c1-12
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Run one step with its output in a log; print its time, or its log's end when it fails. The
# step runs as a background job so that `set -e` holds inside it (in an `if` it would not).
step() {
    local name="$1" start=$SECONDS log
    shift
    log="$LOGS/$name.log"
    say "$name: building (log $log)"
    "$@" >"$log" 2>&1 &
    if wait "$!"; then
        say "$name: done in $((SECONDS - start))s"
    else
        tail -n 40 "$log" >&2
        die "$name failed after $((SECONDS - start))s (log $log)"
    fi
}

# -- names -------------------------------------------------------------------------------------

readonly NAMESPACE_PREFIX=localhost/botgateway-e2e
ROOTFS_TOOLS_PACKAGES="ca-certificates curl jq iptables conntrack ipset iproute2 procps"
# kind's base image packages (images/base/Dockerfile) plus what its multi-stage build compiles
# and Debian ships: runc and the CNI plugins.
ROOTFS_NODE_PACKAGES="systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod
libseccomp2 pigz fuse-overlayfs bash ca-certificates curl jq procps runc containernetworking-plugins"
ROOTFS_PYTHON_PACKAGES="python3 python3-venv ca-certificates"
ROOTFS_POSTGRES_PACKAGES="postgresql-15"
readonly ROOTFS_TOOLS_PACKAGES ROOTFS_NODE_PACKAGES ROOTFS_PYTHON_PACKAGES ROOTFS_POSTGRES_PACKAGES

rootfs_image() {
    local name="$1" words
    read -ra words <<<"$(echo "$2" | tr '\n' ' ')"
    echo "$NAMESPACE_PREFIX/$name-rootfs:$SUITE-$(recipe_hash "$SUITE" "${words[@]}")"
}

ROOTFS_TOOLS="$(rootfs_image tools "$ROOTFS_TOOLS_PACKAGES")"
ROOTFS_NODE="$(rootfs_image node "$ROOTFS_NODE_PACKAGES")"
ROOTFS_PYTHON="$(rootfs_image python "$ROOTFS_PYTHON_PACKAGES")"
ROOTFS_POSTGRES="$(rootfs_image postgres "$ROOTFS_POSTGRES_PACKAGES")"
KIND_BASE="$NAMESPACE_PREFIX/kind-base:$CONTAINERD_VERSION-$(recipe_hash "$ROOTFS_NODE" "$IMAGES/kind-base" "$CRICTL_VERSION")"
NODE_IMAGE="$NAMESPACE_PREFIX/kind-node:$KUBE_VERSION-$(recipe_hash "$KIND_BASE" "$IMAGES/node-images" "$ETCD_VERSION" "$COREDNS_VERSION" "$PAUSE_VERSION" "$LOCAL_PATH_VERSION" "$ROOTFS_TOOLS")"
TRAEFIK_IMAGE="$NAMESPACE_PREFIX/traefik:$TRAEFIK_VERSION-$(recipe_hash "$IMAGES/traefik")"
POSTGRES_IMAGE="$NAMESPACE_PREFIX/postgres:15-$(recipe_hash "$ROOTFS_POSTGRES" "$IMAGES/postgres")"
# The project's image changes with the checkout: its tag is fixed, the build is Docker's cache.
readonly BOTGATEWAY_IMAGE=botgateway:e2e
readonly ROOTFS_TOOLS ROOTFS_NODE ROOTFS_PYTHON ROOTFS_POSTGRES KIND_BASE NODE_IMAGE TRAEFIK_IMAGE POSTGRES_IMAGE

print_names() {
    echo "NODE_IMAGE=$NODE_IMAGE"
    echo "TRAEFIK_IMAGE=$TRAEFIK_IMAGE"
    echo "POSTGRES_IMAGE=$POSTGRES_IMAGE"
    echo "BOTGATEWAY_IMAGE=$BOTGATEWAY_IMAGE"
}

# -- Debian root filesystems -------------------------------------------------------------------

debian_mirror() {
    if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    # The machine's own apt source for the suite (deb822 or one-line format).
    local uri
    uri="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' |
        grep -v security | head -n1 || true)"
    [[ -n "$uri" ]] || uri="$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' |
        grep -v security | head -n1 || true)"
    echo "${uri:-http://deb.debian.org/debian}"
}

# debootstrap a minimal bookworm with the packages (and what they depend on) into a directory
# and import it as an image. No apt runs inside a container, so no network is needed there.
build_rootfs() {
    local image="$1" packages="$2" dir
    dir="$CACHE/work/rootfs-$(echo "$image" | tr '/:' '__')"
    as_root rm -rf "$dir"
    mkdir -p "$dir"
    as_root debootstrap --variant=minbase --include="$(echo "$packages" | tr -s ' \n' ',,')" \
        "$SUITE" "$dir" "$(debian_mirror)"
    # What a package manager leaves behind is not needed at run time.
    as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
        "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
    as_root tar -C "$dir" -c . | docker import --change 'CMD ["/bin/bash"]' - "$image"
    as_root rm -rf "$dir"
}

# debootstrap makes a root filesystem owned by root: sudo where we are not (CI runners).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

rootfs_step() {
    local name="$1" image="$2" packages="$3"
    have_image "$image" || step "rootfs-$name" build_rootfs "$image" "$packages"
}

# -- Go binaries -------------------------------------------------------------------------------

# A throwaway module whose one requirement is the pinned module; its replaces copied in (a
# dependency's replaces do not apply otherwise).
go_module() {
    local dir="$1" module="$2" version="$3" gomod
    rm -rf "$dir"
    mkdir -p "$dir"
    gomod="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
        sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    [[ -f "$gomod" ]] || die "could not download $module@$version"
    {
        echo "module botgateway.invalid/e2eimages"
        grep -m1 '^go ' "$gomod"
        echo "require $module $version"
        awk '/^replace \(/ {inside=1; next} inside && /^\)/ {inside=0; next}
             inside && /=>/ && $NF ~ /^v/ {$1 = $1; print "replace " $0}
             /^replace [^(]/ && $NF ~ /^v/ {print}' "$gomod"
    } >"$dir/go.mod"
}

go_build_into() {
    # go_build_into <module dir> <output dir> <tags> <package>...
    local dir="$1" out="$2" tags="$3"
    shift 3
    mkdir -p "$out"
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
        nice -n 10 go build -trimpath -tags "$tags" -ldflags="-s -w" -o "$out/" "$@")
}

binaries_dir() { echo "$CACHE/bin/$1-$2"; }

# build_go <name> <version> <module> <tags> <package>...: once per version.
build_go() {
    local name="$1" version="$2" module="$3" tags="$4" out work
    shift 4
    out="$(binaries_dir "$name" "$version")"
    [[ -f "$out/.done" ]] && return 0
    work="$CACHE/work/go-$name"
    step "go-$name-$version" go_build_step "$work" "$out" "$module" "$version" "$tags" "$@"
}

go_build_step() {
    local work="$1" out="$2" module="$3" version="$4" tags="$5"
    shift 5
    go_module "$work" "$module" "$version"
    rm -rf "$out"
    go_build_into "$work" "$out.tmp" "$tags" "$@"
    mv "$out.tmp" "$out"
    touch "$out/.done"
    rm -rf "$work"
}

build_pause() {
    local out
    out="$(binaries_dir pause "$PAUSE_VERSION")"
    [[ -f "$out/.done" ]] && return 0
    step "pause-$PAUSE_VERSION" build_pause_step "$out"
}

build_pause_step() {
    local out="$1" source
    # pause.c ships in the Kubernetes module (build/pause/linux).
    source="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/build/pause/linux/pause.c"
    [[ -f "$source" ]] || die "pause.c not found in k8s.io/kubernetes@$KUBE_VERSION"
    mkdir -p "$out"
    gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-botgateway" -o "$out/pause" "$source"
    touch "$out/.done"
}

# -- images ------------------------------------------------------------------------------------

# A build context in the cache: the recipe folder plus the files named after it.
context_for() {
    local recipe="$1" ctx
    ctx="$CACHE/work/context-$(basename "$recipe")"
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp -r "$recipe/." "$ctx/"
    echo "$ctx"
}

docker_build() {
    # docker_build <context> <tag> [build args...]; never reaches a network.
    local ctx="$1" tag="$2"
    shift 2
    docker build --network=none --tag "$tag" "$@" "$ctx"
}

build_kind_base() {
    local ctx kind_dir containerd crictl
    ctx="$(context_for "$IMAGES/kind-base")"
    kind_dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    # kind's own files for its base image: systemd units, containerd config, the entrypoint.
    cp -r "$kind_dir/images/base/files" "$ctx/files"
    chmod -R u+w "$ctx/files"
    containerd="$(binaries_dir containerd "$CONTAINERD_VERSION")"
    crictl="$(binaries_dir crictl "$CRICTL_VERSION")"
    mkdir -p "$ctx/bin"
    cp "$containerd/containerd" "$containerd/ctr" "$containerd/containerd-shim-runc-v2" \
        "$crictl/crictl" "$ctx/bin/"
    docker_build "$ctx" "$KIND_BASE" --build-arg "ROOTFS=$ROOTFS_NODE"
}

tool_path() { echo "$ROOT/.cache/tools/$1"; }

# The extra images a node needs, each from a small recipe in tests/e2e/images/node-images.
build_node_component_images() {
    local ctx="$1" tools="$2"
    local recipes="$IMAGES/node-images" name
    for name in kube-apiserver kube-controller-manager kube-scheduler; do
        mkdir -p "$ctx/$name"
        cp "$recipes/static.Dockerfile" "$ctx/$name/Dockerfile"
        cp "$(tool_path "$name")" "$ctx/$name/binary"
        docker_build "$ctx/$name" "registry.k8s.io/$name:$KUBE_VERSION" --build-arg "NAME=$name"
    done
    mkdir -p "$ctx/kube-proxy"
    cp "$recipes/kube-proxy.Dockerfile" "$ctx/kube-proxy/Dockerfile"
    cp "$(tool_path kube-proxy)" "$ctx/kube-proxy/kube-proxy"
    docker_build "$ctx/kube-proxy" "registry.k8s.io/kube-proxy:$KUBE_VERSION" \
        --build-arg "ROOTFS=$tools"

    mkdir -p "$ctx/etcd"
    cp "$recipes/static.Dockerfile" "$ctx/etcd/Dockerfile"
    cp "$(tool_path etcd)" "$ctx/etcd/binary"
    docker_build "$ctx/etcd" "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" --build-arg NAME=etcd

    mkdir -p "$ctx/coredns"
    cp "$recipes/coredns.Dockerfile" "$ctx/coredns/Dockerfile"
    cp "$(binaries_dir coredns "$COREDNS_VERSION")/coredns" "$ctx/coredns/coredns"
    docker_build "$ctx/coredns" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION"

    mkdir -p "$ctx/pause"
    cp "$recipes/pause.Dockerfile" "$ctx/pause/Dockerfile"
    cp "$(binaries_dir pause "$PAUSE_VERSION")/pause" "$ctx/pause/pause"
    docker_build "$ctx/pause" "registry.k8s.io/pause:$PAUSE_VERSION"

    mkdir -p "$ctx/local-path"
    cp "$recipes/static.Dockerfile" "$ctx/local-path/Dockerfile"
    cp "$(binaries_dir local-path-provisioner "$LOCAL_PATH_VERSION")/local-path-provisioner" \
        "$ctx/local-path/binary"
    docker_build "$ctx/local-path" "$LOCAL_PATH_NAME" --build-arg NAME=local-path-provisioner

    mkdir -p "$ctx/helper"
    cp "$recipes/helper.Dockerfile" "$ctx/helper/Dockerfile"
    docker_build "$ctx/helper" "$LOCAL_PATH_HELPER_NAME" --build-arg "ROOTFS=$tools"

    mkdir -p "$ctx/cni"
    cp "$recipes/cni.Dockerfile" "$ctx/cni/Dockerfile"
    cp "$recipes/cni-standin.sh" "$ctx/cni/"
    docker_build "$ctx/cni" "$KINDNETD_NAME" --build-arg "ROOTFS=$tools"
}

# `docker save` of several images, repacked so that `repositories` (every tag, fully
# qualified) comes first: kind reads only the first metadata file it meets, and of
# manifest.json only entry 0, to learn which images an archive provides.
save_archive() {
    local out="$1"
    shift
    local unpacked="$out.d"
    rm -rf "$unpacked"
    mkdir -p "$unpacked"
    docker save "$@" | tar -C "$unpacked" -x
    python3 "$IMAGES/node-images/repositories.py" "$unpacked" "$out"
    rm -rf "$unpacked"
}

build_node_image() {
    local ctx="$CACHE/work/node" server bin kind
    rm -rf "$ctx"
    mkdir -p "$ctx"
    build_node_component_images "$ctx" "$ROOTFS_TOOLS"

    server="$ctx/server"
    bin="$server/kubernetes/server/bin"
    mkdir -p "$bin"
    echo "$KUBE_VERSION" >"$server/kubernetes/version"
    cp "$(tool_path kubeadm)" "$(tool_path kubelet)" "$(tool_path kubectl)" "$bin/"
    local name
    for name in kube-apiserver kube-controller-manager kube-scheduler; do
        save_archive "$bin/$name.tar" "registry.k8s.io/$name:$KUBE_VERSION"
    done
    save_archive "$bin/kube-proxy.tar" "registry.k8s.io/kube-proxy:$KUBE_VERSION" \
        "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
        "registry.k8s.io/pause:$PAUSE_VERSION" "$KINDNETD_NAME" "$LOCAL_PATH_NAME" "$LOCAL_PATH_HELPER_NAME"
    tar -C "$server" -czf "$ctx/kubernetes-server-linux-amd64.tar.gz" kubernetes
    kind="$(tool_path kind)"
    "$kind" build node-image --type file "$ctx/kubernetes-server-linux-amd64.tar.gz" \
        --base-image "$KIND_BASE" --image "$NODE_IMAGE"
    # The upstream names were only needed inside the archives: leave the Docker store as found.
    docker rmi "registry.k8s.io/kube-apiserver:$KUBE_VERSION" \
        "registry.k8s.io/kube-controller-manager:$KUBE_VERSION" \
        "registry.k8s.io/kube-scheduler:$KUBE_VERSION" "registry.k8s.io/kube-proxy:$KUBE_VERSION" \
        "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
        "registry.k8s.io/pause:$PAUSE_VERSION" "$KINDNETD_NAME" "$LOCAL_PATH_NAME" \
        "$LOCAL_PATH_HELPER_NAME" >/dev/null
    rm -rf "$ctx"
}

build_traefik() {
    local ctx
    ctx="$(context_for "$IMAGES/traefik")"
    cp "$(binaries_dir traefik "$TRAEFIK_VERSION")/traefik" "$ctx/traefik"
    docker_build "$ctx" "$TRAEFIK_IMAGE"
}

build_postgres() {
    local ctx
    ctx="$(context_for "$IMAGES/postgres")"
    docker_build "$ctx" "$POSTGRES_IMAGE" --build-arg "ROOTFS=$ROOTFS_POSTGRES"
}

# The project's Dockerfile, unchanged, on Debian's Python 3.11, with every wheel fetched on the
# host beforehand (the build itself has no network).
build_botgateway() {
    local ctx="$CACHE/work/context-botgateway" python="${BOTGATEWAY_E2E_PIP_PYTHON:-}"
    rm -rf "$ctx"
    mkdir -p "$ctx/wheelhouse"
    cp -r "$ROOT/Dockerfile" "$ROOT/.dockerignore" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ctx/"
    (cd "$ROOT" && git ls-files -z src) | (cd "$ROOT" && xargs -0 cp --parents -t "$ctx")
    python="${python:-$ROOT/.venv/bin/python}"
    [[ -x "$python" ]] || python=python3
    "$python" -m pip wheel --quiet --no-deps --wheel-dir "$ctx/wheelhouse" "$ctx"
    "$python" -m pip download --quiet --dest "$ctx/wheelhouse" --only-binary=:all: \
        --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_28_x86_64 --implementation cp "$ctx"/wheelhouse/botgateway-*.whl
    docker_build "$ctx" "$BOTGATEWAY_IMAGE" --build-arg "PYTHON_IMAGE=$ROOTFS_PYTHON"
}

# The background job fetching the root filesystems; waited for once.
rootfs_pid=""
wait_for_rootfs() {
    if [[ -n "$rootfs_pid" ]]; then
        wait "$rootfs_pid" || die "a Debian root filesystem failed (logs in $LOGS)"
        rootfs_pid=""
    fi
}

main() {
    if [[ $# -gt 0 && "$1" == "--names" ]]; then
        print_names
        return 0
    fi
    command -v docker >/dev/null || die "docker is not installed"
    docker info >/dev/null 2>&1 || die "no Docker daemon answers (docker info)"
    mkdir -p "$LOGS" "$CACHE/work"
    local start=$SECONDS

    local missing_rootfs=0 image
    for image in "$ROOTFS_TOOLS" "$ROOTFS_NODE" "$ROOTFS_PYTHON" "$ROOTFS_POSTGRES"; do
        have_image "$image" || missing_rootfs=1
    done
    if [[ $missing_rootfs -eq 1 ]]; then
        command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    fi
    # The root filesystems are downloads: fetch them beside the Go builds.
    (
        rootfs_step tools "$ROOTFS_TOOLS" "$ROOTFS_TOOLS_PACKAGES"
        rootfs_step node "$ROOTFS_NODE" "$ROOTFS_NODE_PACKAGES"
        rootfs_step python "$ROOTFS_PYTHON" "$ROOTFS_PYTHON_PACKAGES"
        rootfs_step postgres "$ROOTFS_POSTGRES" "$ROOTFS_POSTGRES_PACKAGES"
    ) &
    rootfs_pid=$!

    if ! have_image "$NODE_IMAGE"; then
        step cluster-tools bash "$ROOT/scripts/cluster-tools.sh" etcd kind kubectl kubelet kubeadm \
            kube-apiserver kube-controller-manager kube-scheduler kube-proxy
        if ! have_image "$KIND_BASE"; then
            build_go containerd "$CONTAINERD_VERSION" github.com/containerd/containerd/v2 \
                "no_aufs no_zfs no_btrfs no_devmapper" \
                github.com/containerd/containerd/v2/cmd/containerd \
                github.com/containerd/containerd/v2/cmd/ctr \
                github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
            build_go crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools "" sigs.k8s.io/cri-tools/cmd/crictl
            wait_for_rootfs
            step kind-base build_kind_base
        fi
        build_go coredns "$COREDNS_VERSION" github.com/coredns/coredns "" github.com/coredns/coredns
        build_go local-path-provisioner "$LOCAL_PATH_VERSION" github.com/rancher/local-path-provisioner \
            "" github.com/rancher/local-path-provisioner
        build_pause
        wait_for_rootfs
        step node-image build_node_image
    fi
    if ! have_image "$TRAEFIK_IMAGE"; then
        build_go traefik "$TRAEFIK_VERSION" github.com/traefik/traefik/v3 "" \
            github.com/traefik/traefik/v3/cmd/traefik
        step traefik-image build_traefik
    fi
    have_image "$POSTGRES_IMAGE" || step postgres-image build_postgres
    step botgateway-image build_botgateway
    say "all images ready in $((SECONDS - start))s:"
    local key
    while IFS='=' read -r key image; do
        say "$(printf '  %-16s %-70s %s' "$key" "$image" \
            "$(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')")"
    done < <(print_names)
}

main "$@"
