#!/usr/bin/env bash
# Builds the test-peer binaries kube-apiserver and etcd from their Go modules
# (module proxy only) into $KUBE_PEER_DIR/bin (default ~/.cache/istiod-ts-kube).
# Idempotent: does nothing when both binaries exist. Builds run under
# `nice -n 19` with GOFLAGS=-p=2 (override with KUBE_PEER_GOFLAGS).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"        # k8s.io/kubernetes
STAGING_VERSION="v0.${K8S_VERSION#v1.}"        # k8s.io/api etc.: v0.37.2
PEER_DIR="${KUBE_PEER_DIR:-$HOME/.cache/istiod-ts-kube}"
BIN_DIR="$PEER_DIR/bin"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

BINARIES=(kube-apiserver etcd kube-controller-manager)
[[ "${1:-}" == "--force" ]] && for b in "${BINARIES[@]}"; do rm -f "$BIN_DIR/$b"; done
missing=()
for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "${BINARIES[*]} already built in $BIN_DIR (pass --force to rebuild)"
  exit 0
fi
[[ -x "$GO" ]] || { echo "build.sh: no Go toolchain (looked for go on PATH and /usr/local/go/bin/go)" >&2; exit 1; }

export GOMODCACHE="${GOMODCACHE:-$PEER_DIR/gomod}"
export GOCACHE="${GOCACHE:-$PEER_DIR/gocache}"
export GOFLAGS="${KUBE_PEER_GOFLAGS:--p=2} -mod=mod"
export GOTOOLCHAIN=local CGO_ENABLED=0
start=$(date +%s)
mkdir -p "$BIN_DIR"
WORK="$PEER_DIR/wrapper-$K8S_VERSION"
for cmd in kube-apiserver kube-controller-manager; do
  mkdir -p "$WORK/$cmd" && cp "$HERE/wrapper/$cmd/main.go" "$WORK/$cmd/main.go"
done

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging/... (not in the module zip): map each to its published v0.X.
echo "fetching k8s.io/kubernetes@$K8S_VERSION"
kmod=$(cd "$WORK" && nice -n 19 "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f "$kmod" ]] || { echo "build.sh: could not download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod")
goversion=$(sed -n 's/^go \(.*\)/\1/p' "$kmod")
have=$("$GO" env GOVERSION); have="${have#go}"
if [[ "$(printf '%s\n%s\n' "$goversion" "$have" | sort -V | head -1)" != "$goversion" ]]; then
  echo "build.sh: k8s.io/kubernetes@$K8S_VERSION needs Go >= $goversion; $GO is $have (GOTOOLCHAIN=local: no toolchain download)" >&2
  exit 1
fi
{
  echo "module istiod-ts.test/kube-peer"
  echo
  echo "go $goversion"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  for m in $staging; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$WORK/go.mod"
# The real list also carries kubernetes' own godebug settings.
sed -n 's/^godebug /godebug /p' "$kmod" >> "$WORK/go.mod"

cd "$WORK"
# etcd at the version kubernetes itself pins (keeps one module graph).
ETCD_VERSION="${ETCD_VERSION:-$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$kmod")}"
echo "resolving modules (etcd $ETCD_VERSION)"
cat > "$WORK/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
nice -n 19 "$GO" get "k8s.io/kubernetes@$K8S_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
nice -n 19 "$GO" mod tidy
for b in "${missing[@]}"; do
  case "$b" in
    etcd) pkg=go.etcd.io/etcd/server/v3 ;;
    *) pkg="./$b" ;;
  esac
  ldflags="-s -w"
  if [[ "$b" != etcd ]]; then  # what upstream's build stamps, so /version says v1.37.2
    minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    done
  fi
  echo "building $b ($(date -u +%H:%M:%S); kube-apiserver alone is ~2500 packages)"
  nice -n 19 "$GO" build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/$b.tmp" "$pkg"
  mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
done
echo "built ${missing[*]} in $BIN_DIR in $(( $(date +%s) - start ))s"
