# faultline — build, generate, test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
export GOTOOLCHAIN := local
# Static binaries without DWARF, built the way hack/envtest-assets.sh builds
# kube-apiserver and etcd, so that a cold machine compiles the libraries they
# share once; tests and vet use the same flags and share the cache too.
# Skipping DWARF cuts about a quarter of the compiler's work; stack traces and
# pprof do not need it (use go build directly for a binary to debug).
export CGO_ENABLED := 0
export GOFLAGS := $(strip $(GOFLAGS) -trimpath -gcflags=all=-dwarf=false)

BIN        ?= $(CURDIR)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/faultline-dev/faultline/internal/version.Version=$(VERSION)
BINARIES   := faultline faultline-hub faultline-daemon faultline-agent
CONTROLLER_GEN := $(BIN)/controller-gen
STATICCHECK    := $(BIN)/staticcheck
HELM           := $(BIN)/helm
CHART_CRDS     := charts/faultline/crds
# Packages that need neither root nor a control plane.
UNIT_PKGS  ?= ./...


.PHONY: demo demo-down demo-prereqs demo-kube demo-gitea demo-bin
.PHONY: all build generate test test-unit lint vet envtest-assets gitea-assets tools helm clean help run check-generated check-tidy bench-rollout

all: build

help: ## Lists the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## Builds the four binaries into bin/.
	@mkdir -p $(BIN)
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

tools: $(CONTROLLER_GEN) $(STATICCHECK) $(HELM) ## Builds controller-gen, staticcheck and helm from hack/tools.

$(CONTROLLER_GEN): hack/tools/go.mod
	go build -C hack/tools -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(STATICCHECK): hack/tools/go.mod
	go build -C hack/tools -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

helm: $(HELM) ## Builds bin/helm (the chart tests render and lint with it) from hack/tools.

# Stamped as helm's own Makefile does: its version, and the Kubernetes version
# `helm template` and `helm lint` assume (unstamped they assume v1.20), taken
# from the client-go helm is built with.
$(HELM): hack/tools/go.mod
	v=$$(go list -C hack/tools -m -f '{{.Version}}' helm.sh/helm/v3); \
	minor=$$(go list -C hack/tools -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2); \
	go build -C hack/tools -o $(HELM) -ldflags "-X helm.sh/helm/v3/internal/version.version=$$v \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$minor \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$minor" \
		helm.sh/helm/v3/cmd/helm

generate: $(CONTROLLER_GEN) ## Regenerates deepcopy code and CRD YAML (and the chart's copy of the CRDs).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./crds/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./crds/... output:crd:artifacts:config=crds/bases
	@# The chart ships the same CRDs; a fresh copy each time, so a removed kind leaves none behind.
	rm -f $(CHART_CRDS)/*.yaml
	cp crds/bases/*.yaml $(CHART_CRDS)/

envtest-assets: ## Builds kube-apiserver and etcd from the module proxy into the cache.
	@hack/envtest-assets.sh

gitea-assets: ## Builds Gitea (the forge of the write-back tests) from the module proxy into the cache.
	@hack/gitea.sh

test: $(HELM) ## Runs every test: unit, control planes, git server, network namespaces (root), the chart (helm).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" FAULTLINE_GITEA="$$(hack/gitea.sh | tail -n1)" go test -count=1 -timeout 30m ./...

test-unit: ## Runs the tests that need no root and no control plane.
	FAULTLINE_UNIT_ONLY=1 go test -count=1 -short $(UNIT_PKGS)

vet: ## go vet.
	go vet ./...

lint: vet $(STATICCHECK) ## gofmt, go vet and staticcheck.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$unformatted" || { echo "not gofmt-ed: $$unformatted" >&2; exit 1; }
	$(STATICCHECK) ./...

clean: ## Removes bin/.
	rm -rf $(BIN)

run: build ## Runs the hub against a local control plane (until the demo lands: `make demo`).
	@hack/envtest-assets.sh >/dev/null
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" go run ./hack/devhub

demo: ## The whole loop on this machine: PR, plan, waves, approval, verdicts (root for pods and agents; ~2 min warm).
	@$(MAKE) --no-print-directory -j2 demo-prereqs
	@KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh 2>/dev/null | tail -n1)" FAULTLINE_GITEA="$$(hack/gitea.sh 2>/dev/null | tail -n1)" $(BIN)/faultline-demo up

# What the demo needs. Gitea shares nothing with the rest, so it builds beside
# them. Our binaries build after kube-apiserver and etcd, in one go build with
# the demo driver: go commands running side by side would each compile the
# Kubernetes libraries they share, while one after the other the second finds
# them in the build cache.
demo-prereqs: demo-gitea demo-bin
demo-kube:
	@hack/envtest-assets.sh >/dev/null
demo-gitea:
	@hack/gitea.sh >/dev/null
demo-bin: demo-kube
	@mkdir -p $(BIN)
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES)) ./hack/demo
	@mv -f $(BIN)/demo $(BIN)/faultline-demo

demo-down: ## Removes whatever a demo left (processes, namespaces, links, data) and checks nothing is left.
	@go run ./hack/demo down

check-tidy: ## Fails when go.mod/go.sum are not what `go mod tidy` makes them.
	go mod tidy -diff

check-generated: generate ## Fails when generated code or CRDs (crds/, the chart's copy) differ from what is committed.
	@git diff --exit-code -- crds/ $(CHART_CRDS)/ || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- crds/ $(CHART_CRDS)/)" || { git status --porcelain -- crds/ $(CHART_CRDS)/; echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

bench-rollout: ## Commit (webhook) → Injection in all of 10 member clusters, p50/p99 over 20 runs.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" go test -run '^$$' -bench CommitToInjected -benchtime 20x -timeout 20m ./reconciler/

.PHONY: bench-agents
bench-agents: ## 10,000 simulated agents heartbeating every 10s for 60s against the hub's agent API: hub CPU, RSS, p99, API writes/s.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" go test -run '^$$' -bench AgentFleet -benchtime 1x -timeout 40m ./federation/
