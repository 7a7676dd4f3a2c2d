#!/usr/bin/env bash
# Provisions the Kubernetes binaries the sandbox and the integration tests run on:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl built from Debian's
# `kubernetes` source package (1.20.2), plus etcd and promtool from Debian's packages.
#
# Idempotent (a stamp records what a build carries), serialized by a lock, and honours
# CAPI_AUTOPILOT_K8S_BIN (use binaries you already have) and CAPI_AUTOPILOT_CACHE.
set -euo pipefail

CACHE="${CAPI_AUTOPILOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capi-autopilot}"
K8S_VERSION="1.20.2"
# Bump when the recipe changes so old caches are rebuilt rather than reused.
RECIPE="reflect2-1.0.2+json-iterator-1.1.12+openapi-zero-check"
DEST="$CACHE/k8s-$K8S_VERSION"
STAMP="$DEST/STAMP"
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
APT_PKGS=(golang-go etcd-server prometheus jq rsync dpkg-dev golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev)

log() { printf '[provision] %s\n' "$*" >&2; }
die() { printf '[provision] error: %s\n' "$*" >&2; exit 1; }

verify_dir() { # verify_dir DIR -> 0 when every binary we need is there and executable
  local d=$1 b
  for b in "${KUBE_BINS[@]}" etcd promtool; do [ -x "$d/$b" ] || return 1; done
}

if [ -n "${CAPI_AUTOPILOT_K8S_BIN:-}" ]; then
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do
    [ -x "$CAPI_AUTOPILOT_K8S_BIN/$b" ] || die "CAPI_AUTOPILOT_K8S_BIN=$CAPI_AUTOPILOT_K8S_BIN has no executable '$b'"
  done
  [ -x "$CAPI_AUTOPILOT_K8S_BIN/promtool" ] || log "note: no promtool in CAPI_AUTOPILOT_K8S_BIN; alert-rule tests look for it on PATH"
  echo "$CAPI_AUTOPILOT_K8S_BIN"
  exit 0
fi

stamp_ok() { [ -f "$STAMP" ] && grep -qx "recipe=$RECIPE" "$STAMP" && verify_dir "$DEST/bin"; }

if stamp_ok; then echo "$DEST/bin"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/provision.lock"
if ! flock -n 9; then
  log "another provisioning run holds $CACHE/provision.lock; waiting for it"
  flock 9
fi
# The other run may have finished the work while we waited.
if stamp_ok; then echo "$DEST/bin"; exit 0; fi

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${missing[*]}. Run as root, or: sudo apt-get update && sudo apt-get install -y ${missing[*]}; or point CAPI_AUTOPILOT_K8S_BIN at a directory holding kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and promtool."
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

SRC="$CACHE/src"
APTDIR="$CACHE/apt-src"
tree=$(ls -d "$SRC"/kubernetes-*/ 2>/dev/null | head -n1 || true)
if [ -z "$tree" ] || [ ! -d "$tree/vendor" ]; then
  log "fetching Debian source package 'kubernetes' (private apt lists; the system's apt setup is untouched)"
  rm -rf "$SRC" "$APTDIR"
  mkdir -p "$SRC" "$APTDIR/sources" "$APTDIR/lists/partial"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$APTDIR/sources/debian-src.sources"
  aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$APTDIR/sources" -o "Dir::State::Lists=$APTDIR/lists")
  apt-get "${aptopts[@]}" update -qq >&2
  (cd "$SRC" && apt-get "${aptopts[@]}" source -qq kubernetes >&2)
  tree=$(ls -d "$SRC"/kubernetes-*/ | head -n1)
fi
tree=${tree%/}
log "source tree: $tree"

# The vendored reflect2 1.0.1 segfaults under Go >= 1.18 on the first custom resource: use Debian's 1.0.2,
# and json-iterator 1.1.12, the release made for it (1.1.10 predates it).
replace_vendored() { # replace_vendored IMPORT_PATH DEBIAN_PACKAGE
  local src="/usr/share/gocode/src/$1" dst="$tree/vendor/$1"
  [ -d "$src" ] || die "$src missing (package $2)"
  rm -rf "$dst"; mkdir -p "$dst"
  find "$src" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' -exec cp {} "$dst/" \;
  log "replaced vendored $1 with $(ls "$dst" | wc -l) files from $src"
}
replace_vendored github.com/modern-go/reflect2 golang-github-modern-go-reflect2-dev
replace_vendored github.com/json-iterator/go golang-github-json-iterator-go-dev

# The OpenAPI type validator treats a value as null when reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(v))
# holds. That compares reflect.Value internals; since Go 1.18 they are equal for "" and 0, so every empty
# string in a custom resource is rejected with 422 "must be of type string: null" (CAPI writes message: ""
# on conditions). Under the Go releases 1.20 was built with the test was only ever true for nil.
for f in vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go vendor/github.com/go-openapi/validate/type.go; do
  sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$tree/$f"
  grep -q 'reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data))' "$tree/$f" && die "could not patch the null check in $f"
done
log "patched the OpenAPI type validator's null check"

GOPATH_DIR="$CACHE/gopath"
mkdir -p "$GOPATH_DIR/src/k8s.io"
ln -sfn "$tree" "$GOPATH_DIR/src/k8s.io/kubernetes"
log "building ${KUBE_BINS[*]} (about 5 minutes on 2 cores)"
start=$(date +%s)
(
  cd "$GOPATH_DIR/src/k8s.io/kubernetes"
  GOPATH="$GOPATH_DIR" GO111MODULE=off GOFLAGS= make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubectl" >&2
)
log "build took $(( $(date +%s) - start ))s"

rm -rf "$DEST"; mkdir -p "$DEST/bin"
for b in "${KUBE_BINS[@]}"; do cp "$tree/_output/bin/$b" "$DEST/bin/$b"; done
ln -sfn "$(command -v etcd || echo /usr/bin/etcd)" "$DEST/bin/etcd"
ln -sfn "$(command -v promtool || echo /usr/bin/promtool)" "$DEST/bin/promtool"
verify_dir "$DEST/bin" || die "build finished but $DEST/bin is incomplete"
{
  echo "kubernetes=$K8S_VERSION"
  echo "recipe=$RECIPE"
  echo "go=$(go version | awk '{print $3}')"
  echo "built=$(date -u +%FT%TZ)"
} > "$STAMP"
log "binaries ready in $DEST/bin"
echo "$DEST/bin"
