"""`manage.py bench_evidence` (run by `make bench`) on tiny numbers: it seeds the pytest
database with COPY, then times the reuse lookup and real uploads."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tickets.models import Evidence, EvidenceFlag

ROW = re.compile(r"^(?P<label>\S.*?)\s+(?P<p50>\d+\.\d)\s+(?P<p95>\d+\.\d)\s+(?P<n>\d+)$")


@pytest.mark.postgres
@pytest.mark.django_db
def test_bench_evidence_seeds_and_times_lookups_and_uploads():
    out = StringIO()
    call_command("bench_evidence", rows=3000, stores=20, lookups=25, uploads=3, stdout=out)
    output = out.getvalue()
    assert output.startswith("PostgreSQL ")
    assert "3,000 evidence rows" in output, output  # counted before the uploads
    rows = {m["label"]: m for m in map(ROW.match, output.splitlines()) if m}
    assert sorted(rows) == [
        "lookup: exact + near + date (1 query)",
        "upload: evidence_upload, 1200x900 JPEG",
    ], output
    assert int(rows["lookup: exact + near + date (1 query)"]["n"]) == 25
    assert int(rows["upload: evidence_upload, 1200x900 JPEG"]["n"]) == 3
    for row in rows.values():
        assert 0 < float(row["p50"]) <= float(row["p95"])
    # The plan reads the band indexes; the uploads were fingerprinted like any other.
    assert "evidence_dhash_band0" in output.splitlines()[-1]
    uploaded = Evidence.objects.filter(original_name__startswith="上传")
    assert uploaded.exclude(dhash=None).count() == 3
    # planted exact copies are there to be found (the seed writes rows, not flags)
    assert Evidence.objects.values("sha256").distinct().count() < Evidence.objects.count()
    assert not EvidenceFlag.objects.exclude(evidence__original_name__startswith="上传").exists()

    # Measured again on what is there: other tickets, other pictures.
    out = StringIO()
    call_command("bench_evidence", skip_seed=True, lookups=5, uploads=2, stdout=out)
    assert "seeding: reused" in out.getvalue()
    assert uploaded.count() == 5


@pytest.mark.postgres
@pytest.mark.django_db
def test_refuses_a_database_not_named_bench_on_postgres(monkeypatch):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "NAME", "xietong")
    with pytest.raises(CommandError, match="Refusing to truncate 'xietong'"):
        call_command("bench_evidence", rows=100, stdout=StringIO())
