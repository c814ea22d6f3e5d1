# Entry points for people and CI. `make test` is the one command that builds what the tests need
# (the Kubernetes control plane from Go modules, the Python SDK's virtualenv) and runs every test.

CARGO ?= cargo

.PHONY: test lint demo control-plane helm chart-crds bench reliability \
	promtool health-reader node-binaries node-deps cluster-tier-deps image cluster cluster-down cluster-status cluster-smoke

## Build (or reuse) the test control plane and helm, then run every test. As root this includes the
## cluster tier (tests/cluster_tier.rs: a real single-node cluster, so also the node binaries and
## the Debian packages it runs on); as another user that tier says it is skipped.
test: control-plane helm promtool health-reader cluster-tier-deps
	$(CARGO) test --locked

## What the cluster tier needs beyond the API-server tier, when it can run (root).
cluster-tier-deps:
	@if [ "$$(id -u)" = 0 ]; then \
		$(MAKE) --no-print-directory node-binaries node-deps; \
	else \
		echo "cluster tier: not root, its node binaries and packages are not built"; \
	fi

## Formatting and lints, as CI checks them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

## kube-apiserver, kubectl and etcd from the official Go modules, cached outside the repo.
control-plane:
	bash tests/envtest/build.sh

## kube-controller-manager, kube-scheduler, kubelet and kube-proxy from the same module, in a sibling
## cache entry (only the local cluster needs them; `make test` does not build them).
node-binaries:
	bash tests/envtest/build.sh --node

## containerd, runc, CNI plugins, iptables and buildah from apt, when missing (root).
node-deps:
	bash tests/envtest/node-deps.sh

## helm from its official Go module (helm.sh/helm/v4), in the same cache.
helm:
	bash tests/envtest/build-helm.sh

## The GitOps health reader (Flux's kstatus and Argo CD's Lua checks, from their Go modules), in the
## same cache; tests/gitops_health.rs judges the objects the operator writes with it.
health-reader:
	bash tests/envtest/build-health.sh

## promtool from the distribution's prometheus package (apt-get download, not installed), in the
## same cache; tests/chart.rs checks the chart's PrometheusRule with it.
promtool:
	bash tests/envtest/promtool.sh

## Copy the repo's CRDs into the chart (tests/chart.rs checks they are identical).
chart-crds:
	cp crds/*.yaml charts/digital-recovery/crds/

## The main job: a recovery against the built-in simulators.
demo:
	$(CARGO) run --release -- demo

## Every benchmark in one run, rendering docs/benchmarks.md (knobs: see scripts/bench.sh).
bench:
	bash scripts/bench.sh

## The fault matrix on a real control plane; rewrites docs/reliability.md from its rows.
reliability: control-plane
	rm -rf target/reliability
	DR_RELIABILITY_OUT=$(CURDIR)/target/reliability $(CARGO) test --locked --test fault_matrix -- --test-threads 3
	python3 scripts/reliability_table.py target/reliability docs/reliability.md

## The image from the Dockerfile's `local` target (no registry), imported into the local cluster;
## prints localhost/digital-recovery:TAG last.
image:
	bash scripts/image.sh app

## A real single-node cluster on this machine (root): prints the kubeconfig path last. See
## docs/testing.md, "Real node".
cluster: control-plane node-binaries helm
	bash scripts/cluster.sh up

## Stops it and removes everything it created (also after a crash); keeps certificates and images.
cluster-down:
	bash scripts/cluster.sh down

cluster-status:
	bash scripts/cluster.sh status

## The real-node smoke test: cluster up, image, restricted Pods, an Indexed Job, the kubernetes
## Service from a pod, teardown with nothing left (root; not part of `make test`).
cluster-smoke: control-plane node-binaries
	bash scripts/cluster-smoke.sh
