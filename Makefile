# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test lint format install messages migrate demo bench clean soak drills

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Compiled message catalogues are build output: made here, never committed.
messages: install
	@command -v msgfmt >/dev/null 2>&1 || { \
	  echo "Installing gettext (msgfmt) for the zh-hans/en catalogues"; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq gettext >/dev/null; }
	$(BIN)/python manage.py compilemessages --ignore=.venv --verbosity=0

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

run: messages demo
	@echo ""
	@echo "Xietong is starting: http://127.0.0.1:$(PORT)/  (staff admin: http://127.0.0.1:$(PORT)/admin/)"
	@echo "Logins: staff admin / admin12345; store owners taobao_demo, tmall_demo, jd_demo / demo12345; JD after-sales jd_staff / demo12345"
	@echo "Ctrl-C stops web, worker and beat."
	@echo ""
	DEBUG=1 PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: messages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3 .pytest_cache

# Benchmarks need PostgreSQL; they run in a scratch database, never the dev one.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/xietong_bench
BENCH_TICKETS ?= 100000
BENCH_REPORT_TICKETS ?= 1000000
BENCH_PAGE_TICKETS ?= 1000000
BENCH_BIG_STORE ?= 300000
BENCH_EVIDENCE_ROWS ?= 1000000

bench: install
	@psql "$(BENCH_DATABASE_URL:/xietong_bench=/postgres)" -tAc "SELECT 1 FROM pg_database WHERE datname='xietong_bench'" | grep -q 1 \
	  || createdb -h 127.0.0.1 -U postgres xietong_bench
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench_sweep --tickets $(BENCH_TICKETS)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench_reports --tickets $(BENCH_REPORT_TICKETS)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench_pages --tickets $(BENCH_PAGE_TICKETS) --big-store $(BENCH_BIG_STORE)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench_evidence --rows $(BENCH_EVIDENCE_ROWS)

# Load run (locust headless against gunicorn, PostgreSQL and Redis) in a scratch database,
# xietong_soak_bench, never the dev one. SOAK_SHORT=1 is a smoke run (tiny seed, 10 s
# stages); SOAK_RATES, SOAK_DURATION (default 60 s per rate), SOAK_WORKERS, SOAK_THREADS
# tune it (loadtest/soak.py).
soak: messages
	$(BIN)/python -m loadtest.soak

# Fault drills (loadtest/drills.py): SIGKILL the worker mid-sweep and mid-delivery, restart
# PostgreSQL under a sweep and under intake, restart Redis under worker and beat; each
# prints expected / done / doubled / lost. On a private PostgreSQL cluster and redis-server
# of their own (never the machine's); `make drills DRILLS="redis"` runs some of them.
drills: messages
	$(BIN)/python -m loadtest.drills $(DRILLS)
