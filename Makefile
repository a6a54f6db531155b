# faultline — build, generate, test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
export GOTOOLCHAIN := local

BIN        ?= $(CURDIR)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/faultline-dev/faultline/internal/version.Version=$(VERSION)
BINARIES   := faultline faultline-hub faultline-daemon faultline-agent
CONTROLLER_GEN := $(BIN)/controller-gen
STATICCHECK    := $(BIN)/staticcheck
# Packages that need neither root nor a control plane.
UNIT_PKGS  ?= ./...

.PHONY: all build generate test test-unit lint vet envtest-assets gitea-assets tools clean help run check-generated check-tidy bench-rollout

all: build

help: ## Lists the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## Builds the four binaries into bin/.
	@mkdir -p $(BIN)
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES))

tools: $(CONTROLLER_GEN) $(STATICCHECK) ## Builds controller-gen and staticcheck from hack/tools.

$(CONTROLLER_GEN): hack/tools/go.mod
	go build -C hack/tools -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

$(STATICCHECK): hack/tools/go.mod
	go build -C hack/tools -o $(STATICCHECK) honnef.co/go/tools/cmd/staticcheck

generate: $(CONTROLLER_GEN) ## Regenerates deepcopy code and CRD YAML.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./crds/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./crds/... output:crd:artifacts:config=crds/bases

envtest-assets: ## Builds kube-apiserver and etcd from the module proxy into the cache.
	@hack/envtest-assets.sh

gitea-assets: ## Builds Gitea (the forge of the write-back tests) from the module proxy into the cache.
	@hack/gitea.sh

test: ## Runs every test: unit, control planes, git server, network namespaces (root).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" FAULTLINE_GITEA="$$(hack/gitea.sh | tail -n1)" go test -count=1 -timeout 30m ./...

test-unit: ## Runs the tests that need no root and no control plane.
	FAULTLINE_UNIT_ONLY=1 go test -count=1 -short $(UNIT_PKGS)

vet: ## go vet.
	go vet ./...

lint: vet $(STATICCHECK) ## go vet and staticcheck.
	$(STATICCHECK) ./...

clean: ## Removes bin/.
	rm -rf $(BIN)

run: build ## Runs the hub against a local control plane (until the demo lands: `make demo`).
	@hack/envtest-assets.sh >/dev/null
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" go run ./hack/devhub

check-tidy: ## Fails when go.mod/go.sum are not what `go mod tidy` makes them.
	go mod tidy -diff

check-generated: generate ## Fails when generated code or CRDs differ from what is committed.
	@git diff --exit-code -- crds/ || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- crds/)" || { git status --porcelain -- crds/; echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

bench-rollout: ## Commit (webhook) → Injection in all of 10 member clusters, p50/p99 over 20 runs.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh | tail -n1)" go test -run '^$$' -bench CommitToInjected -benchtime 20x -timeout 20m ./reconciler/
