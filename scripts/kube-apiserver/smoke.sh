#!/usr/bin/env bash
# Checks the running test peer with curl only (run.sh start first): lists namespaces, creates a
# VirtualService in v1 and reads it back in v1beta1, and waits for a BOOKMARK on a watch.
set -euo pipefail
RUN="${KUBE_PEER_RUN_DIR:-${KUBE_PEER_DIR:-$HOME/.cache/istiod-ts-kube}/run}"
URL="https://127.0.0.1:${KUBE_PEER_PORT:-36443}"
[[ -f "$RUN/admin-token" ]] || { echo "smoke.sh: no running peer ($RUN/admin-token missing)" >&2; exit 1; }
k() { curl -sS --cacert "$RUN/pki/ca.crt" -H "Authorization: Bearer $(cat "$RUN/admin-token")" "$@"; }
ns="smoke-$RANDOM"
fail() { echo "FAIL: $*" >&2; k -X DELETE "$URL/api/v1/namespaces/$ns" >/dev/null || true; exit 1; }

k "$URL/api/v1/namespaces" | grep -q '"name": "kube-system"' || fail "namespaces list lacks kube-system"
echo "ok   list namespaces"
k -X POST -H 'Content-Type: application/json' "$URL/api/v1/namespaces" -d "{\"metadata\":{\"name\":\"$ns\"}}" >/dev/null
vs='{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"reviews"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews"}}]}]}}'
k -X POST -H 'Content-Type: application/json' "$URL/apis/networking.istio.io/v1/namespaces/$ns/virtualservices" -d "$vs" | grep -q '"resourceVersion"' || fail "create VirtualService v1"
got=$(k "$URL/apis/networking.istio.io/v1beta1/namespaces/$ns/virtualservices/reviews")
grep -q '"apiVersion": "networking.istio.io/v1beta1"' <<<"$got" && grep -q '"host": "reviews"' <<<"$got" || fail "v1beta1 read: $got"
echo "ok   VirtualService created in v1, read back in v1beta1"
# A watch without resourceVersion: synthetic ADDED events, then at once a BOOKMARK annotated
# k8s.io/initial-events-end (periodic bookmarks only come about once a minute: SMOKE_SLOW=1).
events=$(k -N --max-time 10 "$URL/apis/networking.istio.io/v1/namespaces/$ns/virtualservices?watch=1&allowWatchBookmarks=true&timeoutSeconds=3" || true)
grep -q '"type":"ADDED"' <<<"$events" && grep -q '"type":"BOOKMARK".*k8s.io/initial-events-end' <<<"$events" || fail "watch without rv: $events"
echo "ok   watch with allowWatchBookmarks: ADDED, then BOOKMARK $(grep -o '"metadata":{"annotations[^}]*}[^}]*}' <<<"$events" | head -1)"
if [[ -n "${SMOKE_SLOW:-}" ]]; then
  rv=$(sed -n 's/.*"type":"BOOKMARK".*"resourceVersion":"\([0-9]*\)".*/\1/p' <<<"$events" | head -1)
  events=$(k -N --max-time 80 "$URL/apis/networking.istio.io/v1/namespaces/$ns/virtualservices?watch=1&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=70" || true)
  grep -q '"type":"BOOKMARK"' <<<"$events" || fail "no periodic BOOKMARK within 70 s from rv $rv"
  echo "ok   watch from rv $rv: periodic BOOKMARK within 70 s"
fi
k -X DELETE "$URL/api/v1/namespaces/$ns" >/dev/null
echo "smoke: all checks passed"
