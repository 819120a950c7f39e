#!/usr/bin/env bash
# Builds and installs the local stack's tools, pinned in hack/versions.env, into a cache outside the
# checkout (keyed by tool and version), so a fresh clone on the same machine reuses them.
#
#   hack/tools.sh all          everything below, skipping what is already cached
#   hack/tools.sh apt          Debian packages (postgresql, redis-server, ffmpeg, prometheus,
#                              and the real node's containerd, runc, CNI plugins, iptables)
#   hack/tools.sh go           etcd, Kubernetes (apiserver, controller-manager, scheduler, kubectl),
#                              the real node's kubelet, kube-proxy and pause,
#                              kwok, MinIO, helm, KEDA (operator, metrics adapter, CRDs), metrics-server,
#                              the Prometheus operator's CRDs, Prometheus (with Kubernetes SD)
#   hack/tools.sh bindir TOOL  print where TOOL's binaries live
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.env
source "$HACK_DIR/versions.env"

CACHE_DIR=${CLUB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/club-platform}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0

APT_PACKAGES=(postgresql redis-server ffmpeg prometheus containerd runc containernetworking-plugins iptables)
# Binaries each package must provide; the check also finds PostgreSQL's versioned bin folder.
APT_COMMANDS=(redis-server ffmpeg ffprobe promtool containerd runc iptables)
# The images' builder and the Debian base they start from here (images/Containerfile, images.py).
APT_PACKAGES+=(podman mmdebstrap)
APT_COMMANDS+=(podman mmdebstrap)
# The compiled load generator bench/bench_api_rls.py drives the API with.
APT_PACKAGES+=(wrk)
APT_COMMANDS+=(wrk)

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

version_of() {
	case "$1" in
	etcd) echo "$ETCD_VERSION" ;;
	kubernetes | kubernetes-node) echo "$KUBERNETES_VERSION" ;;
	kwok) echo "$KWOK_VERSION" ;;
	minio) echo "$MINIO_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	keda) echo "$KEDA_VERSION" ;;
	metrics-server) echo "$METRICS_SERVER_VERSION" ;;
	registry) echo "$REGISTRY_VERSION" ;;
	prometheus-operator) echo "$PROMETHEUS_OPERATOR_VERSION" ;;
	prometheus) echo "$PROMETHEUS_VERSION" ;;
	*) echo "unknown tool: $1" >&2; return 2 ;;
	esac
}

bindir() { echo "$CACHE_DIR/$1/$(version_of "$1")/bin"; }

# build TOOL BINARY... -- COMMAND: runs COMMAND with $OUT set to a scratch folder, then moves it
# into place atomically, so an interrupted build never leaves a half-filled cache entry.
build() {
	local tool=$1 dest
	shift
	local binaries=()
	while [[ $1 != -- ]]; do binaries+=("$1"); shift; done
	shift
	dest=$(bindir "$tool")
	local missing=0 b
	for b in "${binaries[@]}"; do [[ -e $dest/$b ]] || missing=1; done
	if ((missing == 0)); then
		say "$tool $(version_of "$tool"): cached"
		return 0
	fi
	say "$tool $(version_of "$tool"): building ${binaries[*]} (first time only; minutes)"
	local start=$SECONDS
	mkdir -p "$(dirname "$dest")"
	rm -rf "$(dirname "$dest")"/.build.* # left by an interrupted build (builds hold a lock)
	OUT=$(mktemp -d "$(dirname "$dest")/.build.XXXXXX")
	chmod 755 "$OUT"
	export OUT
	"$@"
	for b in "${binaries[@]}"; do
		[[ -e $OUT/$b ]] || { echo "build of $tool did not produce $b" >&2; return 1; }
	done
	rm -rf "$dest"
	mv "$OUT" "$dest"
	say "$tool $(version_of "$tool"): built in $((SECONDS - start))s"
}

build_etcd() {
	(cd "$HACK_DIR/go/etcd" && go build -trimpath -ldflags '-s -w' -o "$OUT/etcd" .)
}

# -ldflags that stamp the pinned version into the Kubernetes binaries, as its own build does.
kubernetes_ldflags() {
	local v=$KUBERNETES_VERSION minor
	minor=${v#v*.}
	minor=${minor%%.*}
	local pkg flags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$flags"
}

build_kubernetes() {
	(cd "$HACK_DIR/go/kubernetes" && go build -trimpath -ldflags "$(kubernetes_ldflags)" -o "$OUT/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

# The real node's kubelet and kube-proxy, from the same module and pin as the control plane but in
# their own cache folder, so adding them never rebuilds (or swaps out) the control plane's binaries.
# The pause image's binary is built from its C source in that module, as its Dockerfile does.
build_kubernetes_node() {
	(cd "$HACK_DIR/go/kubernetes" && nice -n 10 go build -trimpath -ldflags "$(kubernetes_ldflags)" -o "$OUT/" \
		k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
	local dir pause_version
	dir=$(cd "$HACK_DIR/go/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
	pause_version=$(sed -n 's/^TAG ?= *//p' "$dir/build/pause/Makefile")
	[[ -n $pause_version ]] || { echo "no pause TAG in $dir/build/pause/Makefile" >&2; return 1; }
	gcc -Os -Wall -Werror -static -DVERSION="v$pause_version" -o "$OUT/pause" "$dir/build/pause/linux/pause.c"
	echo "$pause_version" >"$OUT/pause.version"
}

go_install() { (cd "$OUT" && GOBIN=$OUT go install -trimpath -ldflags '-s -w' "$1"); }

build_kwok() { go_install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; }
build_minio() { go_install "github.com/minio/minio@$MINIO_VERSION"; }
build_helm() { go_install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }
build_metrics_server() { go_install "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"; }
build_registry() {
	(cd "$OUT" && GOBIN=$OUT nice -n 10 go install -trimpath -ldflags '-s -w' \
		"github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION")
}

# KEDA's operator (keda) and metrics API server (keda-adapter), built in its own module's folder so
# that its go.sum and replace directives hold (`go install pkg@version` refuses a module with
# replaces), and its CRDs as the module ships them (config/crd/bases). Every scaler is compiled
# in: the biggest build here (see README), so it runs niced, one command after the other.
KEDA_CRDS=(keda.sh_scaledobjects.yaml keda.sh_scaledjobs.yaml keda.sh_triggerauthentications.yaml
	keda.sh_clustertriggerauthentications.yaml eventing.keda.sh_cloudeventsources.yaml
	eventing.keda.sh_clustercloudeventsources.yaml)
KEDA_BINARIES=(keda keda-adapter)
build_keda() {
	local dir
	dir=$(cd "$OUT" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $dir/config/crd/bases ]] || { echo "KEDA module has no config/crd/bases" >&2; return 1; }
	local f
	for f in "${KEDA_CRDS[@]}"; do cp "$dir/config/crd/bases/$f" "$OUT/$f"; done
	local ldflags="-s -w -X github.com/kedacore/keda/v2/version.Version=$KEDA_VERSION"
	(cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$OUT/keda" ./cmd/operator)
	(cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$OUT/keda-adapter" ./cmd/adapter)
}

# The Prometheus operator's CRDs for the chart's ServiceMonitor and PrometheusRule, as its module
# ships them (example/prometheus-operator-crd): nothing is built.
PROMETHEUS_OPERATOR_CRDS=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_podmonitors.yaml
	monitoring.coreos.com_prometheusrules.yaml)
build_prometheus_operator_crds() {
	local dir f
	dir=$(cd "$OUT" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	for f in "${PROMETHEUS_OPERATOR_CRDS[@]}"; do cp "$dir/example/prometheus-operator-crd/$f" "$OUT/$f"; done
}

# Prometheus with Kubernetes service discovery (Debian's is built without it; its promtool, which
# needs none, stays the one the tests run), built in its module's folder for its replace directives.
# Every discovery plugin is compiled in (the module has no build tags to leave them out).
build_prometheus() {
	local dir ldflags
	dir=$(cd "$OUT" && go mod download -json "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	ldflags="-s -w -X github.com/prometheus/common/version.Version=2.${PROMETHEUS_VERSION#v0.}"
	(cd "$dir" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$OUT/prometheus" ./cmd/prometheus)
}

install_go_tools() {
	command -v go >/dev/null || { echo "go is not installed; it is needed to build the stack's tools" >&2; exit 1; }
	build etcd etcd -- build_etcd
	build kubernetes kube-apiserver kube-controller-manager kube-scheduler kubectl -- build_kubernetes
	build kubernetes-node kubelet kube-proxy pause pause.version -- build_kubernetes_node
	build kwok kwok -- build_kwok
	build minio minio -- build_minio
	build helm helm -- build_helm
	build registry registry -- build_registry
	build keda "${KEDA_CRDS[@]}" "${KEDA_BINARIES[@]}" -- build_keda
	build metrics-server metrics-server -- build_metrics_server
	build prometheus-operator "${PROMETHEUS_OPERATOR_CRDS[@]}" -- build_prometheus_operator_crds
	build prometheus prometheus -- build_prometheus
}

apt_missing() {
	local c missing=()
	for c in "${APT_COMMANDS[@]}"; do command -v "$c" >/dev/null || missing+=("$c"); done
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(initdb)
	[[ -x /usr/lib/cni/bridge ]] || missing+=(cni-bridge)
	echo "${missing[@]}"
}

install_apt() {
	local missing
	missing=$(apt_missing)
	if [[ -z $missing ]]; then
		say "Debian packages: present"
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "Missing commands: $missing. Install them with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y ${APT_PACKAGES[*]}" >&2
		exit 1
	fi
	say "Debian packages: installing ${APT_PACKAGES[*]} (missing: $missing)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# The packages' own services are not wanted: the stack starts its own instances on free ports.
	local policy=/usr/sbin/policy-rc.d created=0
	if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1; fi
	apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
	((created)) && rm -f "$policy"
	missing=$(apt_missing)
	[[ -z $missing ]] || { echo "still missing after install: $missing" >&2; exit 1; }
}

# One build at a time: a second invocation (another checkout, a parallel `make`) waits for the
# first and then finds its binaries cached instead of building them again.
lock_builds() {
	mkdir -p "$CACHE_DIR"
	exec 9>"$CACHE_DIR/.build.lock"
	if ! flock -n 9; then
		say "another build of the tools is running; waiting for it"
		flock 9
	fi
}

case "${1:-all}" in
all | apt | go) lock_builds ;;
esac

case "${1:-all}" in
all) install_apt; install_go_tools ;;
apt) install_apt ;;
go) install_go_tools ;;
bindir) bindir "$2" ;;
cache-dir) echo "$CACHE_DIR" ;;
*) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
