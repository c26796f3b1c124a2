# qrelay: `make demo` runs the app with demo data (no services, no API key);
# `make test` runs the tests against PostgreSQL + Redis (+ a real Celery worker).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/qrelay
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: venv demo run serve test test-fast lint format worker beat bench bench-deps bench-side-by-side clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Embedded mode: SQLite under var/, tasks in-process, the offline judge.
demo: $(STAMP)
	$(BIN)/python manage.py demo

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	./scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest $(PYTEST_ARGS)

# Production web server: gunicorn, static files collected and served by WhiteNoise.
# WEB_WORKERS (default 2 × cores + 1), WEB_BIND (default 127.0.0.1:8000), WEB_TIMEOUT (60).
serve: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	QRELAY_COLLECTED_STATIC=true $(BIN)/python manage.py collectstatic --no-input -v0
	QRELAY_COLLECTED_STATIC=true $(BIN)/gunicorn config.wsgi:application \
		--bind $${WEB_BIND:-127.0.0.1:8000} --workers $${WEB_WORKERS:-$$(( $$(nproc) * 2 + 1 ))} \
		--timeout $${WEB_TIMEOUT:-60} --forwarded-allow-ips "$${FORWARDED_ALLOW_IPS:-127.0.0.1}"

# The inner loop while developing: no Celery worker process, no browser (still real
# PostgreSQL and Redis). `make test` and CI run everything.
test-fast: $(STAMP)
	./scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest -m "not worker and not e2e" $(PYTEST_ARGS)

# ruff (lint + format check) and mypy, as CI runs them.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Full stack: set DATABASE_URL and CELERY_BROKER_URL in the environment first.
worker: $(STAMP)
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2 -Q qrelay

# Periodic work (repeat schedules, the judge-job watchdog): one beat per deployment.
beat: $(STAMP)
	$(BIN)/celery -A config beat --loglevel=INFO

bench: $(STAMP)
	./scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/bench_import.py

# Bench-only packages (ranx, with numba): kept out of requirements-dev.txt, which CI installs.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench-deps: $(BENCH_STAMP)

# qrelay's metrics and α side by side with pytrec_eval, ranx and krippendorff (ratios).
# Each bench uses its own database on TEST_DATABASE_URL's server.
bench-side-by-side: $(BENCH_STAMP)
	./scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/bench_vs_trec_tools.py $(BENCH_ARGS)
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/bench_vs_krippendorff.py $(BENCH_ARGS_ALPHA)

clean:
	rm -rf $(VENV) var
