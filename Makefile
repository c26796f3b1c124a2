# qrelay: `make demo` runs the app with demo data (no services, no API key);
# `make test` runs the tests against PostgreSQL + Redis (+ a real Celery worker).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/qrelay
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: venv demo run test worker beat bench clean

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

# Full stack: set DATABASE_URL and CELERY_BROKER_URL in the environment first.
worker: $(STAMP)
	$(BIN)/celery -A config worker --loglevel=INFO --concurrency=2 -Q qrelay

# Periodic work (repeat schedules, the judge-job watchdog): one beat per deployment.
beat: $(STAMP)
	$(BIN)/celery -A config beat --loglevel=INFO

bench: $(STAMP)
	./scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/bench_import.py

clean:
	rm -rf $(VENV) var
