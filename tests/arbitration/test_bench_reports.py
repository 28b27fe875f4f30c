"""`manage.py bench_reports` (run by `make bench`) on tiny numbers: it seeds with its
set-based SQL and times one day's report; `--skip-seed` times the same day again on
what an earlier run seeded (a 10 M seed takes minutes)."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arbitration.models import StoreDayReport

DAY = re.compile(
    r"^report for one day : \d+\.\d\d s  \((?P<rows>[\d,]+) store rows, (?P<day>[\d-]+)\)$"
)


def report_line(output: str) -> re.Match:
    matches = [m for m in map(DAY.match, output.splitlines()) if m]
    assert len(matches) == 1, output
    return matches[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_skip_seed_refuses_an_empty_database():
    with pytest.raises(CommandError, match="Nothing seeded yet"):
        call_command("bench_reports", skip_seed=True, stdout=StringIO())


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_reports_seeds_then_times_the_same_day_again_without_seeding():
    seeded = StringIO()
    call_command("bench_reports", tickets=2000, stores=20, stdout=seeded)
    assert "seeded 2,000 tickets over 90 days, 20 stores" in seeded.getvalue()
    first = report_line(seeded.getvalue())
    assert int(first["rows"].replace(",", "")) > 0

    reused = StringIO()
    call_command("bench_reports", skip_seed=True, stdout=reused)
    assert "reusing 2,000 tickets seeded from " in reused.getvalue()
    assert "seeded 2,000" not in reused.getvalue()
    again = report_line(reused.getvalue())
    assert again["day"] == first["day"]
    assert again["rows"] == first["rows"]
    assert StoreDayReport.objects.filter(day=first["day"]).count() == int(
        first["rows"].replace(",", "")
    )
