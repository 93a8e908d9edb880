// Command kube-controller-manager is a test peer for istiod-ts: the upstream
// kube-controller-manager built from the k8s.io/kubernetes Go module, started
// exactly as upstream's cmd/kube-controller-manager main does. run.sh runs it
// with only the controllers a bare API server lacks for our tests (namespace
// deletion, garbage collection, default ServiceAccounts).
package main

import (
	"os"
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
