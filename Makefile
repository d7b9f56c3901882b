# ms-kafka on Knative: order, shipping and invoicing as Knative functions over Kafka.
# `make help` lists the targets.

GO      ?= go
BIN     := bin
.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets and the configuration variables
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Configuration of 'make run' (environment variables):"
	@$(GO) run ./cmd/stack --help
	@echo
	@echo "Configuration of the functions (set for you by 'make run'):"
	@$(GO) run ./cmd/function --help

.PHONY: build
build: ## build the function binary and the local stack runner into bin/
	@echo "▸ building bin/function and bin/stack"
	@$(GO) build -o $(BIN)/function ./cmd/function
	@$(GO) build -o $(BIN)/stack ./cmd/stack

.PHONY: run
run: build ## run everything locally: Postgres, Kafka, the three functions, dispatchers, gateway on :8080
	@$(BIN)/stack

.PHONY: test
test: ## unit, integration and end-to-end tests against real Postgres and real Apache Kafka
	@infra/local/test.sh

.PHONY: unit
unit: ## only the tests that need no servers
	$(GO) test -race ./...

.PHONY: bench
bench: ## benchmarks (start-to-ready and memory of each function, placing an order, …) against real servers
	@infra/local/test.sh bench

.PHONY: clean
clean: ## remove binaries and all local data (orders, topics, the private Postgres)
	@infra/local/postgres.sh stop 2>/dev/null || true
	@PG_DIR=.data/test-postgres infra/local/postgres.sh stop 2>/dev/null || true
	@KAFKA_DIR=.data/test-kafka infra/local/kafka.sh stop 2>/dev/null || true
	rm -rf $(BIN) .data

.PHONY: deploy
deploy: ## deploy to a Kubernetes cluster with Knative (not available yet: see README)
	@echo "make deploy: the cluster deployment is not part of this version yet (see README, 'On a cluster')." >&2; exit 1
