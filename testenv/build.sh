#!/usr/bin/env bash
# Builds the real control plane used by the end-to-end tests and benchmarks, from the Go module proxy only:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (k8s.io/kubernetes), etcd
# (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok), at the versions pinned in testenv/versions.env.
#
# Binaries are cached outside the clone, in $POOLSHIFT_TESTENV_CACHE (default ~/.cache/poolshift-testenv), one
# folder per component and version (plus a hash of the wrapper module's go.sum), so later runs and CI on the same
# machine reuse them. A component is rebuilt only when its folder is missing or incomplete.
#
# Usage: testenv/build.sh            build what is missing, print the bin folder on stdout (last line)
#        testenv/build.sh --print    print the bin folder without building (exit 1 when something is missing)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
cache="${POOLSHIFT_TESTENV_CACHE:-$HOME/.cache/poolshift-testenv}"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

# The contents only (not the paths), so every clone on the machine shares the cache.
sumkey() { cat "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-12; }

k8s_dir="$cache/kubernetes-$K8S_VERSION-$(sumkey k8s)"
etcd_dir="$cache/etcd-$ETCD_VERSION-$(sumkey etcd)"
kwok_dir="$cache/kwok-$KWOK_VERSION-$(sumkey kwok)"
bin="$cache/bin-$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION"

complete() { [ -f "$1/.complete" ]; }

if [ "${1:-}" = "--print" ]; then
    complete "$k8s_dir" && complete "$etcd_dir" && complete "$kwok_dir" && [ -d "$bin" ] || exit 1
    echo "$bin"
    exit 0
fi

log() { printf '[testenv] %s\n' "$*" >&2; }

build_k8s() {
    local v="${K8S_VERSION#v}" major minor date
    major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    local ld="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        ld="$ld -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=module-proxy-$K8S_VERSION"
    done
    mkdir -p "$k8s_dir"
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
        log "building $cmd $K8S_VERSION"
        (cd "$here/k8s" && go build -trimpath -ldflags "$ld" -o "$k8s_dir/$cmd" "k8s.io/kubernetes/cmd/$cmd")
    done
}

build_one() { # dir wrapper-folder package output-name
    mkdir -p "$1"
    log "building $4 ($2)"
    (cd "$here/$2" && go build -trimpath -ldflags "-s -w" -o "$1/$4" "$3")
}

start=$SECONDS
if ! complete "$etcd_dir"; then
    build_one "$etcd_dir" etcd . etcd && touch "$etcd_dir/.complete"
fi
if ! complete "$kwok_dir"; then
    build_one "$kwok_dir" kwok sigs.k8s.io/kwok/cmd/kwok kwok && touch "$kwok_dir/.complete"
fi
if ! complete "$k8s_dir"; then
    build_k8s && touch "$k8s_dir/.complete"
fi

# One folder with every binary (symlinks), the one the harness and the README use.
mkdir -p "$bin"
for f in "$k8s_dir"/kube-apiserver "$k8s_dir"/kube-controller-manager "$k8s_dir"/kube-scheduler "$k8s_dir"/kubectl \
    "$etcd_dir"/etcd "$kwok_dir"/kwok; do
    ln -sfn "$f" "$bin/$(basename "$f")"
done
log "control plane binaries ready in $bin ($((SECONDS - start)) s)"
echo "$bin"
