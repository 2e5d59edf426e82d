#!/usr/bin/env bash
# Build the Kubernetes tools that the `cluster` and `e2e` test tiers need, from
# their Go modules, at pinned versions; keep them in a per-user cache keyed by
# version and link them into this checkout's .cache/tools/.
#
#   bash scripts/cluster-tools.sh            # every tool
#   bash scripts/cluster-tools.sh etcd helm  # just these
#   bash scripts/cluster-tools.sh --versions # print the pins and exit
#
# No registry serves Kubernetes server binaries, so they are compiled here. A
# tool already in the cache is only linked (a second run takes about a second).
#
# Environment:
#   BOTGATEWAY_TOOLS_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/botgateway/tools)
#   CLUSTER_TOOLS_NICE      niceness of the builds (default 10)
set -euo pipefail

readonly KUBE_VERSION=v1.32.13
readonly ETCD_VERSION=v3.5.24
readonly HELM_VERSION=v3.19.5
readonly KIND_VERSION=v0.30.0

readonly ALL_TOOLS=(etcd kube-apiserver kube-controller-manager helm kind)
# What a kind node image needs besides those (scripts/e2e-images.sh builds them through here).
readonly NODE_TOOLS=(kubectl kubelet kubeadm kube-scheduler kube-proxy)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
CACHE="${BOTGATEWAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/botgateway/tools}"
readonly CACHE
readonly DEST="$ROOT/.cache/tools"
readonly NICE="${CLUSTER_TOOLS_NICE:-10}"

say() { printf 'cluster-tools: %s\n' "$*"; }
die() { printf 'cluster-tools: error: %s\n' "$*" >&2; exit 1; }

version_of() {
    case "$1" in
        etcd) echo "$ETCD_VERSION" ;;
        kube-apiserver | kube-controller-manager | kubectl | kubelet | kubeadm | kube-scheduler | kube-proxy)
            echo "$KUBE_VERSION" ;;
        helm) echo "$HELM_VERSION" ;;
        kind) echo "$KIND_VERSION" ;;
        *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]} ${NODE_TOOLS[*]})" ;;
    esac
}

cached_path() { echo "$CACHE/$1-$(version_of "$1")/$1"; }

link_tool() {
    local name="$1" how="$2" target
    target="$(cached_path "$name")"
    ln -sfn "$target" "$DEST/$name"
    say "$(printf '%-24s %-9s %-11s %s' "$name" "$(version_of "$name")" "$how" ".cache/tools/$name -> $target")"
}

# A throwaway module in a temp dir: the pinned module is its one requirement,
# so its dependencies resolve as in its own go.mod (minus its replaces).
# Further arguments are extra "module version" requirements.
new_module() {
    local dir="$1" module="$2" version="$3" go_line="${4:-go 1.23.0}" extra
    shift 3
    shift $(($# > 0 ? 1 : 0))
    mkdir -p "$dir"
    {
        echo "module botgateway.invalid/clustertools"
        echo
        echo "$go_line"
        echo
        echo "require $module $version"
        for extra in "$@"; do
            echo "require $extra"
        done
    } >"$dir/go.mod"
}

go_build() {
    # go_build <module dir> <output> <package> [ldflags...]
    local dir="$1" out="$2" pkg="$3"
    shift 3
    (
        cd "$dir"
        CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
            nice -n "$NICE" go build -trimpath -ldflags="-s -w $*" -o "$out" "$pkg"
    )
}

# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires every
# staging module (k8s.io/api, client-go, ...) at v0.0.0 and replaces it with a
# directory inside its own tree. Point each at its published v0.X.Y instead.
kube_module() {
    local dir="$1" gomod staging_version go_line
    if [[ -f "$dir/go.mod" ]]; then
        return 0
    fi
    # Outside any module (not this checkout's), so only the module cache is touched.
    gomod="$(cd "$(dirname "$dir")" && GOFLAGS=-mod=mod go mod download -json \
        "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
    staging_version="v0.${KUBE_VERSION#v1.}"
    go_line="$(grep -m1 '^go ' "$gomod")"
    new_module "$dir" k8s.io/kubernetes "$KUBE_VERSION" "$go_line"
    {
        echo
        # Keep the GODEBUG defaults that upstream builds with.
        grep '^godebug ' "$gomod" || true
        echo
        echo "replace ("
        sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*$|\1|p' "$gomod" |
            while read -r mod; do
                printf '\t%s => %s %s\n' "$mod" "$mod" "$(staging_pin "$mod" "$staging_version" "$dir")"
            done
        echo ")"
    } >>"$dir/go.mod"
}

# The version of a staging module to build with: the release's own, or, where the module
# proxy does not serve that one (it has happened: k8s.io/endpointslice v0.32.13), the newest
# earlier patch of the same minor that it serves. The sample-* modules are never built.
staging_pin() {
    local mod="$1" want="$2" dir="$3" version
    if [[ "$mod" == k8s.io/sample-* ]] || fetchable "$mod" "$want" "$dir"; then
        echo "$want"
        return 0
    fi
    for version in $(cd "$(dirname "$dir")" && go list -m -versions "$mod" | tr ' ' '\n' |
        grep "^${want%.*}\.[0-9]*$" | sort -t. -k3,3nr); do
        if ((${version##*.} < ${want##*.})) && fetchable "$mod" "$version" "$dir"; then
            say "note: $mod $want is not served by the module proxy; using $version" >&2
            echo "$version"
            return 0
        fi
    done
    echo "$want" # the build will say what is missing
}

fetchable() {
    (cd "$(dirname "$3")" && GOFLAGS=-mod=mod go mod download "$1@$2") >/dev/null 2>&1
}

kube_ldflags() {
    local minor="${KUBE_VERSION#v1.}" pkg flags=""
    minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    echo "$flags"
}

smoke() {
    case "$1" in
        helm) "$2" version --short ;;
        kind) "$2" version ;;
        kubectl) "$2" version --client ;;
        kubeadm) "$2" version ;;
        *) "$2" --version ;;
    esac
}

build_tool() {
    local name="$1" work="$2" out dir
    out="$work/out/$name"
    case "$name" in
        kube-apiserver | kube-controller-manager | kubectl | kubelet | kubeadm | kube-scheduler | kube-proxy)
            dir="$work/kubernetes"
            kube_module "$dir"
            # shellcheck disable=SC2046  # the ldflags are meant to split
            go_build "$dir" "$out" "k8s.io/kubernetes/cmd/$name" $(kube_ldflags)
            ;;
        etcd)
            dir="$work/etcd"
            # etcd 3.5 still requires reflect2 v1.0.1, whose map code predates Go 1.18's
            # runtime; v1.0.2 (and the json-iterator that goes with it) is the fixed one.
            new_module "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "go 1.23.0" \
                "github.com/modern-go/reflect2 v1.0.2" "github.com/json-iterator/go v1.1.12"
            go_build "$dir" "$out" go.etcd.io/etcd/server/v3
            ;;
        helm)
            dir="$work/helm"
            new_module "$dir" helm.sh/helm/v3 "$HELM_VERSION"
            go_build "$dir" "$out" helm.sh/helm/v3/cmd/helm \
                "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
            ;;
        kind)
            dir="$work/kind"
            new_module "$dir" sigs.k8s.io/kind "$KIND_VERSION"
            go_build "$dir" "$out" sigs.k8s.io/kind
            ;;
    esac
    smoke "$name" "$out" >/dev/null 2>&1 || die "$name was built but does not run"
    mkdir -p "$(dirname "$(cached_path "$name")")"
    # Same filesystem as the cache: the final rename is atomic.
    cp "$out" "$(cached_path "$name").tmp.$$"
    mv -f "$(cached_path "$name").tmp.$$" "$(cached_path "$name")"
}

main() {
    local tools=() name missing=() work start elapsed
    if [[ $# -gt 0 && "$1" == "--versions" ]]; then
        for name in "${ALL_TOOLS[@]}" kubectl; do
            printf '%s %s\n' "$name" "$(version_of "$name")"
        done
        return 0
    fi
    if [[ $# -gt 0 ]]; then
        tools=("$@")
    else
        tools=("${ALL_TOOLS[@]}")
        # kubectl comes from the machine when it has one.
        command -v kubectl >/dev/null 2>&1 || tools+=(kubectl)
    fi
    for name in "${tools[@]}"; do
        version_of "$name" >/dev/null
    done

    mkdir -p "$CACHE" "$DEST"
    for name in "${tools[@]}"; do
        [[ -x "$(cached_path "$name")" ]] || missing+=("$name")
    done

    if [[ ${#missing[@]} -gt 0 ]]; then
        command -v go >/dev/null 2>&1 ||
            die "Go is not installed, and it is needed to build: ${missing[*]} (install Go 1.23 or newer)"
        # One build at a time per cache (make and a test run may race).
        exec 9>"$CACHE/.lock"
        if command -v flock >/dev/null 2>&1; then
            flock 9
        fi
        work="$(mktemp -d "${TMPDIR:-/tmp}/botgateway-cluster-tools.XXXXXX")"
        # shellcheck disable=SC2064  # expand $work now
        trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'" EXIT
        say "building ${missing[*]} with $(go env GOVERSION) (this takes a while on a small machine)"
        for name in "${missing[@]}"; do
            if [[ -x "$(cached_path "$name")" ]]; then
                link_tool "$name" cached # built by a concurrent run
                continue
            fi
            start=$SECONDS
            build_tool "$name" "$work"
            elapsed=$((SECONDS - start))
            link_tool "$name" "built(${elapsed}s)"
        done
    fi
    for name in "${tools[@]}"; do
        if [[ ${#missing[@]} -eq 0 ]] || [[ ! " ${missing[*]} " == *" $name "* ]]; then
            link_tool "$name" cached
        fi
    done
}

main "$@"
