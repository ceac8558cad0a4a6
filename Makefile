# The two commands of the README: `make demo` (the main job) and `make test`.
# Both install what they need on a fresh machine (Debian: redis-server,
# chromium; npm packages of the local chain and the browser tests).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: demo test deps redis node-localnet node-e2e serve

demo: node-localnet
	go run ./cmd/stipend demo

test: deps
	go vet ./...
	go test -race -count=1 ./...

deps: redis node-localnet node-e2e

# A Redis server answering on 127.0.0.1:6379 (started if installed, installed if missing).
redis:
	@if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }; \
	  mkdir -p /var/lib/redis /var/log/redis; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	  for i in $$(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi
	@redis-cli -h 127.0.0.1 -p 6379 ping

node-localnet:
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	cd localnet && npm ci --no-audit --no-fund

# Browser tests: Debian's Chromium driven by playwright-core (no browser download).
node-e2e:
	@if [ -f web/e2e/package-lock.json ]; then \
	  command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }; \
	  cd web/e2e && npm ci --no-audit --no-fund; \
	fi
