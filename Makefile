# The verbs of the Tekup platform. `make` alone lists them.
SHELL := bash
.DEFAULT_GOAL := help
PLATFORM := scripts/platform.sh

.PHONY: help run down clean status test fuzz bench bench-events bench-vault lint validate-deploy fmt install

help: ## list the verbs
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## start the local platform: PostgreSQL + pgvector, the broker and all six services
	@bash $(PLATFORM) run

down: ## stop everything `make run` started
	@bash $(PLATFORM) down

clean: ## stop the local platform and delete its data (database, broker state, secrets)
	@bash $(PLATFORM) clean

status: ## readiness of each service of `make run`
	@bash $(PLATFORM) status

test: ## run every test against its own PostgreSQL and broker, then tear them down
	@bash $(PLATFORM) test $(ARGS)

fuzz: ## schemathesis against every service's OpenAPI document, as users of two orgs (thorough)
	@bash $(PLATFORM) fuzz

bench: ## crm's HTTP path vs the same SQL replayed vs pgbench -S: read, list, create; RSS per service
	@bash $(PLATFORM) bench

bench-events: ## event backbone vs the raw broker: throughput and latency, side by side
	@bash $(PLATFORM) bench-events

bench-vault: ## vector search over 100k vectors: HTTP vs raw SQL, p50/p95 and recall@10
	@bash $(PLATFORM) bench-vault

lint: validate-deploy ## rustfmt check, clippy with warnings as errors, deployment files
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

validate-deploy: ## validate docker-compose.yml, deploy/Dockerfile and deploy/k8s (and that broken copies fail)
	@bash $(PLATFORM) validate-deploy

fmt: ## format the code
	cargo fmt --all

install: ## install PostgreSQL and the broker into the cache (make run/test do it too)
	@bash $(PLATFORM) install
