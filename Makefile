.PHONY: demo test serve lint openapi bench bench-api bench-public bench-availability bench-notifications bench-console bench-export bench-cli-help

# uv as scripts/bootstrap installs it when the PATH has no uv of the pinned version.
export PATH := $(CURDIR)/.tools/uv/bin:$(PATH)

# The port of make demo and make serve (make demo PORT=8081); default 8080.
PORT_ARGS = $(if $(PORT),--port $(PORT))

# Start Clarion on SQLite with a demo status page (prints its URL and an API key).
demo:
	@scripts/bootstrap
	@uv run clarion demo $(PORT_ARGS)

# The whole test suite (ruff, mypy, pytest on SQLite and on PostgreSQL).
test:
	@scripts/test

serve:
	@scripts/bootstrap
	@uv run clarion serve $(PORT_ARGS)

lint:
	uv run ruff format .
	uv run ruff check --fix .

# Regenerate the committed OpenAPI document after changing the API.
openapi:
	uv run python -m clarion.openapi_check --write

# Every benchmark, on SQLite and on PostgreSQL, then every figure against its target
# (docs/performance.md). One benchmark: make bench-api (or -public, -availability,
# -notifications, -console, -export, -cli-help); with one backend: make bench BACKEND=sqlite.
BENCH_ARGS = $(if $(BACKEND),--backend $(BACKEND))

bench:
	@scripts/bootstrap --with-bench
	@scripts/ensure-services
	uv run python -m bench $(BENCH_ARGS)

bench-api bench-public bench-availability bench-notifications bench-console bench-export:
	@scripts/bootstrap --with-bench
	@scripts/ensure-services
	uv run python -m bench $(@:bench-%=%) $(BENCH_ARGS)

# The CPU time of clarion --help (no database: no services needed).
bench-cli-help:
	@scripts/bootstrap
	uv run python -m bench cli_help
