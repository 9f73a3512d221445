.PHONY: demo test serve lint bench openapi

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

bench:
	@scripts/bootstrap
	uv run python -m bench
