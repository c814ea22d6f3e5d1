//go:build tools

// Package tools pins the Kubernetes commands built from this module: the API-server tier
// (kube-apiserver, kubectl; tests/envtest/build.sh) and the node tier (controller-manager,
// scheduler, kubelet, kube-proxy; tests/envtest/build.sh --node).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
