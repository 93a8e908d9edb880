// Command kube-apiserver is a test peer for istiod-ts: the upstream
// kube-apiserver built from the k8s.io/kubernetes Go module, started exactly
// as upstream's cmd/kube-apiserver main does. Only tests use it (see
// scripts/kube-apiserver/README.md); the product stays TypeScript.
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
