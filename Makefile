.PHONY: demo test serve lint openapi bench bench-api bench-public bench-availability bench-notifications

# Start Clarion on SQLite with a demo status page (prints its URL and an API key).
demo:
	@scripts/bootstrap
	@uv run clarion demo

# The whole test suite (ruff, mypy, pytest on SQLite and on PostgreSQL).
test:
	@scripts/test

serve:
	@scripts/bootstrap
	@uv run clarion serve

lint:
	uv run ruff format .
	uv run ruff check --fix .

# Regenerate the committed OpenAPI document after changing the API.
openapi:
	uv run python -m clarion.openapi_check --write

# Every benchmark, on SQLite and on PostgreSQL, then every figure against its target
# (docs/performance.md). One benchmark: make bench-api (or -public, -availability,
# -notifications); with one backend: make bench BACKEND=sqlite.
BENCH_ARGS = $(if $(BACKEND),--backend $(BACKEND))

bench:
	@scripts/bootstrap --with-bench
	@scripts/ensure-services
	uv run python -m bench $(BENCH_ARGS)

bench-api bench-public bench-availability bench-notifications:
	@scripts/bootstrap --with-bench
	@scripts/ensure-services
	uv run python -m bench $(@:bench-%=%) $(BENCH_ARGS)
