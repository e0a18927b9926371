#!/usr/bin/env bash
# Starts a real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) on 127.0.0.1, builds
# it first if needed, and prints how to point kubectl and poolshift at it. Ctrl-C stops it.
# Usage: testenv/up.sh [--scenario scenarios/demo.yaml] [--prefix NAME]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POOLSHIFT_TESTENV_BIN="$("$here/build.sh" | tail -n 1)"
export POOLSHIFT_TESTENV_BIN
cd "$here/.."
exec cargo run -q --release -p poolshift-testenv --bin testenv-up -- "$@"
