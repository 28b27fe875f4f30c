"""`make soak`'s pieces, cheaply (the load run itself is never part of the suite): the
seed on the pytest database at a tiny size, the settings it reads, and the report from
a fixed results file. No timing is asserted."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password

from loadtest import soak
from merchants.models import Membership, Store
from tickets.models import ContactAttempt, ReplyOption, Ticket


@pytest.mark.postgres
@pytest.mark.django_db
def test_seed_makes_stores_with_owner_logins_and_open_tickets_to_reply_to():
    plan = soak.seed(stores=4, tickets=40, open_per_store=3)

    assert Store.objects.count() == 4
    assert len(plan["stores"]) == 4
    users = get_user_model().objects.filter(username__startswith=soak.OWNER_PREFIX)
    assert users.count() == 4
    assert all(check_password(soak.PASSWORD, user.password) for user in users)
    for store in plan["stores"]:
        owner = Membership.objects.get(user__username=store["username"])
        assert owner.store.code == store["code"]
        assert owner.role == "owner"
        # Open, due tomorrow, each with the logged call a reply needs.
        opened = Ticket.objects.filter(pk__in=store["open"])
        assert opened.count() == 3
        assert set(opened.values_list("state", flat=True)) == {"open"}
        assert set(opened.values_list("store__code", flat=True)) == {store["code"]}
        for ticket in opened:
            assert ContactAttempt.objects.filter(ticket=ticket, counts=True).count() == 1
        assert Ticket.objects.filter(pk__in=store["tickets"], store__code=store["code"]).exists()
        assert store["terms"] and all(store["terms"])
    option = plan["reply_option"]["taobao"]
    assert ReplyOption.objects.get(pk=option).code == "other"
    assert set(plan["reply_option"]) == {"taobao", "tmall", "jd"}
    # 40 from bench_pages' seed plus 3 open per store.
    assert Ticket.objects.count() == 40 + 4 * 3

    assert soak.api_token()  # the raw key create_api_token prints once


def test_settings_come_from_the_environment():
    config = soak.Config.from_env({})
    assert (config.rates, config.duration, config.stores) == ([50, 100, 200], 60, 200)
    assert config.database_url.endswith("/xietong_soak_bench")
    short = soak.Config.from_env({"SOAK_SHORT": "1", "SOAK_DURATION": "5"})
    assert short.short and short.duration == 5 and short.stores < 200
    assert soak.Config.from_env({"SOAK_RATES": "50,100"}).rates == [50, 100]


def test_the_soak_refuses_a_database_that_is_not_scratch():
    with pytest.raises(SystemExit, match="_bench"):
        soak.ensure_database("postgres://postgres@127.0.0.1:5432/xietong")


def _stage(rate, times, errors=()):
    samples = [["inbox", ms, None] for ms in times]
    samples += [["reply", 50.0, kind] for kind in errors]
    return {"rate": rate, "start": 0.0, "duration": 10.0, "samples": samples}


RESULTS = {
    "stages": [
        _stage(50, [10.0] * 480 + [150.0] * 20),  # 500 in 10 s, p95 10, p99 150
        _stage(100, [20.0] * 900 + [180.0] * 100),  # p95 180: still holds
        _stage(200, [40.0] * 1400 + [900.0] * 100, errors=["reply: HTTP 500"] * 3),
    ]
}


def test_report_from_a_fixed_results_file():
    rows = [soak.summarize(stage) for stage in RESULTS["stages"]]
    assert [(row.rate, row.achieved, row.requests) for row in rows] == [
        (50, 50.0, 500),
        (100, 100.0, 1000),
        (200, 150.3, 1503),
    ]
    assert (rows[0].p50, rows[0].p95, rows[0].p99) == (10.0, 10.0, 150.0)
    assert rows[1].p95 == 180.0 and rows[1].holds
    assert rows[2].p95 == 900.0 and rows[2].error_count == 3 and not rows[2].holds

    report = soak.format_report(rows, ["setup line"])
    lines = report.splitlines()
    assert lines[0] == (
        "| target req/s | achieved req/s | requests | p50 ms | p95 ms | p99 ms | errors |"
    )
    assert lines[2] == "| 50 | 50.0 | 500 | 10 | 10 | 150 | 0 |"
    assert lines[3] == "| 100 | 100.0 | 1,000 | 20 | 180 | 180 | 0 |"
    assert lines[4] == "| 200 | 150.3 | 1,503 | 40 | 900 | 900 | 3 (reply: HTTP 500 ×3) |"
    assert "| reply | — | — | 50 (3) |" in lines
    assert (
        "Where it bends (p95 < 200 ms, 0 errors): holds up to 100 req/s (p95 180 ms, "
        "0 errors); bends by 200 req/s (p95 900 ms, 3 errors, achieved 150 req/s)"
    ) in lines
    assert lines[-1] == "setup line"


def test_bend_when_nothing_holds_or_nothing_breaks():
    slow = soak.summarize(_stage(50, [300.0] * 10))
    fast = soak.summarize(_stage(50, [30.0] * 500))
    assert soak.bend([slow]).startswith("no rate held p95 < 200 ms")
    assert "did not bend up to the highest rate tried (50 req/s)" in soak.bend([fast])
