"""`manage.py bench_pages` (run by `make bench`) on tiny numbers: it seeds the pytest
database with its set-based SQL and prints p50, p95 and queries for every page."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from tickets.management.commands.bench_pages import scratch_database

LABELS = [
    "queue: to do (default)",
    "queue: due soon",
    "queue: overdue",
    "queue: replied",
    "queue: escalated",
    "queue: all",
    "queue: assigned to me",
    "queue: all, newest first",
    "queue: all, page 50",
    "search: number fragment",
    "search: name",
    "search: phone tail",
    "search: summary word",
    "search: 2-letter prefix",
    "overview",
    "reports",
    "notifications",
    "notification bell",
    "appeals",
    "ticket page",
    "admin: escalated queue",
    "admin: ticket list",
    "admin: ticket search",
    "admin: appeal queue",
]
ROW = re.compile(r"^(?P<label>\S.*?)\s+(?P<p50>\d+\.\d)\s+(?P<p95>\d+\.\d)\s+(?P<queries>\d+)$")


def rows_of(output: str) -> dict[str, re.Match]:
    return {match["label"]: match for match in map(ROW.match, output.splitlines()) if match}


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_pages_seeds_and_times_every_page():
    out = StringIO()
    call_command("bench_pages", tickets=3000, big_store=1000, stores=20, requests=2, stdout=out)
    output = out.getvalue()
    assert output.startswith("PostgreSQL ")
    assert "3,000 tickets over 20 stores" in output
    assert "big store 1,000" in output
    machine = re.search(r"^machine: Python (\d+\.\d) ms, PostgreSQL (\d+\.\d) ms", output, re.M)
    assert machine and float(machine[1]) > 0 and float(machine[2]) > 0, output
    rows = rows_of(output)
    assert sorted(rows) == sorted(LABELS), output
    for label, row in rows.items():
        assert 0 < float(row["p50"]) <= float(row["p95"]), label
        assert int(row["queries"]) > 0, label
    assert output.splitlines()[-1].startswith("slowest p95: ")

    # Re-measure what is there, a subset only.
    out = StringIO()
    call_command("bench_pages", skip_seed=True, only=["admin"], requests=1, stdout=out)
    assert "seeding: reused" in out.getvalue()
    assert sorted(rows_of(out.getvalue())) == sorted(label for label in LABELS if "admin" in label)


def test_only_scratch_databases_are_truncated():
    assert scratch_database("xietong_bench")
    assert scratch_database("test_xietong")  # pytest's
    assert not scratch_database("xietong")
    assert not scratch_database("bench_xietong")
