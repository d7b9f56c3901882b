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
	@$(GO) -C tools run ./stack --help
	@echo
	@echo "Configuration of the functions (set for you by 'make run'):"
	@$(GO) run ./cmd/function --help

# bin/function is built as func builds the image: without cgo (a static binary
# that starts faster and maps less).
.PHONY: build
build: ## build the function binary and the local stack runner into bin/
	@echo "▸ building bin/function and bin/stack"
	@CGO_ENABLED=0 $(GO) build -o $(BIN)/function ./cmd/function
	@$(GO) -C tools build -o ../$(BIN)/stack ./stack

# The functions scale to zero after the idle period of infra/functions/revision-template.yaml and start
# again on the next request; `make run WARM=1` keeps them running.
# OBSERVE=1 (`make run OBSERVE=1`): bin/stack also runs a local Jaeger (infra/local/jaeger.sh,
# built once into .cache/jaeger) and sends every process's traces there; its query API is on
# http://127.0.0.1:16686. Any OTEL_* variable given to make run reaches every process as well.
.PHONY: run
run: build ## run everything locally: Postgres, Kafka, the three functions (scale to zero; WARM=1 keeps them up), dispatchers, pings, gateway on :8080 (OBSERVE=1: and Jaeger)
	@$(BIN)/stack

.PHONY: test
test: ## unit, integration and end-to-end tests against real Postgres and real Apache Kafka
	@infra/local/test.sh

# FUZZTIME: how long `make fuzz` runs each fuzz target (default 1m).
.PHONY: fuzz
fuzz: ## run every Go fuzz target for FUZZTIME each (make test runs them for 3 s)
	@infra/local/fuzz.sh $(or $(FUZZTIME),1m)

# make test-chaos CHAOS_RATE=60 CHAOS_DRILLS=kafka-kill9,postgres-immediate (defaults: 60/s, every drill)
.PHONY: test-chaos
test-chaos: ## fault drills (Kafka kill -9/SIGTERM, Postgres crash, failing sink, poison records) under load; table in artifacts/chaos.md
	@infra/local/chaos.sh

# Not part of `make test`: it builds Kubernetes and Knative from the Go module proxy (several
# minutes on 2 cores, once; cached in .cache/box) and needs root (a private network namespace).
.PHONY: test-cluster
test-cluster: ## make deploy and make undeploy against a real Kubernetes control plane with Knative and Kafka, built from source (infra/box)
	@infra/box/test.sh

.PHONY: unit
unit: ## only the tests that need no servers
	$(GO) test -race ./...

.PHONY: bench
bench: ## the pipeline against the minimal SQL of an order, cold starts, memory, sizes; BASELINE=<rev> adds a side-by-side run (bench/results/)
	@infra/local/bench.sh

# make bench-growth: one rate while 300,000 orders pile up, with a short retention (~20 min).
.PHONY: bench-growth
bench-growth: ## p99, CPU per order and table sizes early and late in 300,000 orders (bench/results/growth/)
	@infra/local/bench.sh -only growth

# make microbench: the Go benchmarks (accepting an order, storing it in a sink, decoding, …).
.PHONY: microbench
microbench: ## Go benchmarks of single operations against real servers
	@infra/local/test.sh bench

.PHONY: clean
clean: ## remove binaries and all local data (orders, topics, the private Postgres)
	@infra/local/postgres.sh stop 2>/dev/null || true
	@PG_DIR=.data/test-postgres infra/local/postgres.sh stop 2>/dev/null || true
	@rm -rf "$$(infra/local/postgres.sh dir)" "$$(PG_DIR=.data/test-postgres infra/local/postgres.sh dir)"
	@KAFKA_DIR=.data/test-kafka infra/local/kafka.sh stop 2>/dev/null || true
	rm -rf $(BIN) .data

# make deploy REGISTRY=ghcr.io/<you>   (or IMAGE=<name>@sha256:<digest> to deploy an image built before)
# Needs func and kubectl, and a cluster with Knative Serving and Eventing (KafkaSource,
# KafkaSink), Strimzi, Istio and Jaeger: docs/deploy.md, which also says what to do next.
.PHONY: deploy
deploy: ## build and push the image with func, deploy the three functions and infra/ to the current kubectl context
	@infra/cluster/deploy.sh

.PHONY: undeploy
undeploy: ## remove everything make deploy created (the namespace ms-kafka with its data)
	@infra/cluster/undeploy.sh

# make load URL=http://127.0.0.1:8080 N=1000 RATE=50 CONCURRENCY=50 (these are the defaults)
.PHONY: load
load: ## place N orders at RATE per second through the gateway at URL; prints throughput, latencies, errors
	@$(GO) -C tools run ./load $(if $(URL),-url='$(URL)') $(if $(N),-n=$(N)) $(if $(RATE),-rate=$(RATE)) $(if $(CONCURRENCY),-concurrency=$(CONCURRENCY))
