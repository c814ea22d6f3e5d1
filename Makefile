# Entry points for people and CI. `make test` is the one command that builds what the tests need
# (the Kubernetes control plane from Go modules, the Python SDK's virtualenv) and runs every test.

CARGO ?= cargo

.PHONY: test lint demo control-plane bench

## Build (or reuse) the test control plane, then run every test.
test: control-plane
	$(CARGO) test --locked

## Formatting and lints, as CI checks them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

## kube-apiserver, kubectl and etcd from the official Go modules, cached outside the repo.
control-plane:
	bash tests/envtest/build.sh

## The main job: a recovery against the built-in simulators.
demo:
	$(CARGO) run --release -- demo

## Benchmarks; figures go to docs/benchmarks.md.
bench:
	$(CARGO) bench --locked
