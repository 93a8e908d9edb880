#!/usr/bin/env bash
# Starts (or stops) a real Kubernetes API server + etcd on 127.0.0.1 as a test peer.
#
#   scripts/kube-apiserver/run.sh start [KUBECONFIG_PATH]   # prints the env lines to export
#   scripts/kube-apiserver/run.sh stop                      # kills both, removes the state dir
#   scripts/kube-apiserver/run.sh status | env                # env: the export lines again
#   scripts/kube-apiserver/run.sh down | up                   # outage: stop/restart kube-apiserver only
#
# Env: KUBE_PEER_DIR (binaries/cache, default ~/.cache/istiod-ts-kube), KUBE_PEER_RUN_DIR (state,
# default $KUBE_PEER_DIR/run), KUBE_PEER_PORT (API server, default 36443), KUBE_PEER_ETCD_PORT
# (etcd client port, default 32379; peer port is +1), KUBE_PEER_AUTHZ (RBAC|AlwaysAllow, default RBAC).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEER_DIR="${KUBE_PEER_DIR:-$HOME/.cache/istiod-ts-kube}"
BIN_DIR="$PEER_DIR/bin"
RUN="${KUBE_PEER_RUN_DIR:-$PEER_DIR/run}"
PORT="${KUBE_PEER_PORT:-36443}"
ETCD_PORT="${KUBE_PEER_ETCD_PORT:-32379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
AUTHZ="${KUBE_PEER_AUTHZ:-RBAC}"

die() { echo "run.sh: $*" >&2; exit 1; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  for p in kube-controller-manager kube-apiserver etcd; do
    if alive "$RUN/$p.pid"; then
      pid=$(cat "$RUN/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      echo "stopped $p (pid $pid)"
    fi
  done
  rm -rf "$RUN"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts kube-apiserver on the state in $RUN (certs, keys, token) and waits for /readyz.
start_apiserver() {
  local pki="$RUN/pki" token; token=$(cat "$RUN/admin-token")
  # ServiceAccount admission is off: tests create Pods in fresh namespaces at once, before the
  # serviceaccount controller has made the `default` ServiceAccount it insists on, and no
  # kubelet would use the projected tokens it adds. Every other default admission plugin stays on.
  # --endpoint-reconciler-type none: the reconciler refuses a loopback --advertise-address.
  setsid "$BIN_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none --secure-port "$PORT" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" --cert-dir "$pki" \
    --token-auth-file "$pki/tokens.csv" \
    --authorization-mode "$AUTHZ" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --api-audiences istio-ca,https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 \
    --enable-admission-plugins NamespaceLifecycle,MutatingAdmissionWebhook,ValidatingAdmissionWebhook \
    --disable-admission-plugins ServiceAccount \
    --allow-privileged=true --profiling=false --v=1 >> "$RUN/kube-apiserver.log" 2>&1 < /dev/null &
  echo $! > "$RUN/kube-apiserver.pid"

  t0=$(date +%s)
  until curl -sf --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do
    alive "$RUN/etcd.pid" || { tail -20 "$RUN/etcd.log" >&2; stop >/dev/null; die "etcd exited (log above)"; }
    alive "$RUN/kube-apiserver.pid" || { tail -30 "$RUN/kube-apiserver.log" >&2; stop >/dev/null; die "kube-apiserver exited (log above)"; }
    (( $(date +%s) - t0 > 120 )) && { tail -30 "$RUN/kube-apiserver.log" >&2; die "kube-apiserver not ready after 120 s ($RUN/kube-apiserver.log)"; }
    sleep 0.5
  done
}

write_kubeconfig() {  # FILE USER TOKEN
  cat > "$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test-peer
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority-data: $(base64 -w0 < "$RUN/pki/ca.crt")
users:
- name: $2
  user:
    token: $3
contexts:
- name: test-peer
  context: {cluster: test-peer, user: $2}
current-context: test-peer
KC
  chmod 600 "$1"
}

start() {
  local kubeconfig="${1:-$RUN/kubeconfig}"
  if alive "$RUN/kube-apiserver.pid"; then die "already running (pid $(cat "$RUN/kube-apiserver.pid")); run.sh stop first"; fi
  for p in "$PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"; do port_busy "$p" && die "port 127.0.0.1:$p is in use (set KUBE_PEER_PORT / KUBE_PEER_ETCD_PORT)"; done
  [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/etcd" && -x "$BIN_DIR/kube-controller-manager" ]] || bash "$HERE/build.sh"
  rm -rf "$RUN"; mkdir -p "$RUN/pki" "$RUN/etcd"
  local pki="$RUN/pki"

  # Serving certificate from a throwaway CA; service-account signing key pair; admin token.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=istiod-ts-test-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' > "$pki/san.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  local token; token=$(openssl rand -hex 24)
  echo "$token,admin,admin-uid,\"system:masters\"" > "$pki/tokens.csv"
  echo "$token" > "$RUN/admin-token"
  # A second identity without any permission of its own: istiod's ServiceAccount
  # (istio-system/istiod). Tests bind the ClusterRole they want to check to it and run with
  # $RUN/istiod.kubeconfig, so RBAC is really enforced (the admin above bypasses it).
  local sa_token; sa_token=$(openssl rand -hex 24)
  echo "$sa_token,system:serviceaccount:istio-system:istiod,istiod-sa-uid,\"system:serviceaccounts,system:serviceaccounts:istio-system\"" >> "$pki/tokens.csv"

  setsid "$BIN_DIR/etcd" --name default --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn > "$RUN/etcd.log" 2>&1 < /dev/null &
  echo $! > "$RUN/etcd.pid"

  start_apiserver
  local url="https://127.0.0.1:$PORT"
  echo "kube-apiserver ready at $url after $(( $(date +%s) - t0 ))s (authorization: $AUTHZ)" >&2

  mkdir -p "$(dirname "$kubeconfig")"
  write_kubeconfig "$kubeconfig" admin "$token"
  write_kubeconfig "$RUN/istiod.kubeconfig" istiod "$sa_token"
  echo "$kubeconfig" > "$RUN/kubeconfig-path"
  cp "$kubeconfig" "$RUN/admin.kubeconfig"

  # Only the controllers whose absence would make this API server behave unlike a cluster's:
  # a deleted Namespace is emptied and goes away, ownerReferences are collected, every
  # namespace gets its `default` ServiceAccount.
  setsid "$BIN_DIR/kube-controller-manager" --kubeconfig "$RUN/admin.kubeconfig" \
    --controllers namespace-controller,garbage-collector-controller,serviceaccount-controller \
    --leader-elect=false --secure-port 0 --use-service-account-credentials=false \
    --v=1 > "$RUN/kube-controller-manager.log" 2>&1 < /dev/null &
  echo $! > "$RUN/kube-controller-manager.pid"
  sleep 1
  alive "$RUN/kube-controller-manager.pid" || { tail -20 "$RUN/kube-controller-manager.log" >&2; die "kube-controller-manager exited (log above)"; }

  # Istio CRDs (test/helpers/kube-crds.ts), applied with curl so this script needs only the
  # compiled helper, then waited for until every served version answers a list.
  local crds="$REPO/dist/test/helpers/kube-crds.js"
  if [[ ! -f "$crds" || "$REPO/test/helpers/kube-crds.ts" -nt "$crds" ]]; then
    (cd "$REPO" && npx tsc -p . >/dev/null) || [[ -f "$crds" ]] || die "could not build $crds (npx tsc -p .)"
  fi
  local n=0 code
  while IFS= read -r crd; do
    code=$(curl -s -o "$RUN/crd-answer.json" -w '%{http_code}' --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -X POST --data-binary "$crd" "$url/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    [[ "$code" == 201 || "$code" == 409 ]] || die "creating a CRD answered $code: $(cat "$RUN/crd-answer.json")"
    n=$((n + 1))
  done < <(node "$crds" lines)
  t0=$(date +%s)
  for path in $(node "$crds" paths); do
    until curl -sf -o /dev/null --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "$url$path?limit=1"; do
      (( $(date +%s) - t0 > 60 )) && die "$path is not served 60 s after its CRD was created"
      sleep 0.2
    done
  done
  echo "applied $n Istio CRDs; every served version lists" >&2

  echo "# RBAC-enforced identity system:serviceaccount:istio-system:istiod: $RUN/istiod.kubeconfig" >&2
  echo "export KUBE_TEST_APISERVER=$url"
  echo "export KUBECONFIG=$kubeconfig"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  down)  # an API-server outage: kube-apiserver goes away, etcd (the state) stays
    alive "$RUN/kube-apiserver.pid" || die "kube-apiserver is not running"
    pid=$(cat "$RUN/kube-apiserver.pid"); kill "$pid"
    # graceful shutdown waits for open watches to end; past 5 s it is a crash (SIGKILL)
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "kube-apiserver stopped (pid $pid); etcd keeps the state; run.sh up brings it back" ;;
  up)
    alive "$RUN/etcd.pid" || die "no peer state (run.sh start first)"
    alive "$RUN/kube-apiserver.pid" && die "kube-apiserver is already running"
    t0=$(date +%s); start_apiserver
    echo "kube-apiserver back at https://127.0.0.1:$PORT after $(( $(date +%s) - t0 ))s" ;;
  env)
    alive "$RUN/kube-apiserver.pid" || { echo "not running" >&2; exit 1; }
    echo "export KUBE_TEST_APISERVER=https://127.0.0.1:$PORT"
    echo "export KUBECONFIG=$(cat "$RUN/kubeconfig-path")" ;;
  status)
    if alive "$RUN/kube-apiserver.pid"; then
      echo "running: https://127.0.0.1:$PORT (kubeconfig $(cat "$RUN/kubeconfig-path" 2>/dev/null))"
    else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start [KUBECONFIG_PATH] | stop | status | env | down | up" >&2; exit 2 ;;
esac
