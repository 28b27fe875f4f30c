"""Tests for tickets.sla, the pure SLA-clock module (SPEC.md "Deadlines (the SLA clock)").

No database and no frozen time needed: every instant is passed in explicitly.
2026-11-24 is a Tuesday; all local times are Asia/Shanghai unless stated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.sla import (
    CALENDAR,
    MAX_EMPTY_DAYS,
    WORKING,
    WorkingSchedule,
    compute_due_at,
    is_working_time,
    remaining,
    reminder_at,
    working_intervals,
    working_time_between,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUE = date(2026, 11, 24)
WED = TUE + timedelta(days=1)
THU = TUE + timedelta(days=2)
FRI = TUE + timedelta(days=3)
SAT = TUE + timedelta(days=4)
MON = TUE + timedelta(days=6)

# JD: CRC high-risk = 4 working hours, 09:00–19:00 Asia/Shanghai, Monday to Sunday (SPEC.md)
JD_CRC = WorkingSchedule()
FOUR_HOURS = timedelta(hours=4)
# Taobao/Tmall (and JD normal scenario) = 24 calendar hours (SPEC.md)
DAY = timedelta(hours=24)
ALL_DAY = WorkingSchedule(day_start=time(0, 0), day_end=time(0, 0))


def local(day: date, hour: int, minute: int = 0, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def crc_due(created: datetime, schedule: WorkingSchedule = JD_CRC) -> datetime:
    return compute_due_at(created_at=created, window=FOUR_HOURS, clock=WORKING, schedule=schedule)


# --------------------------------------------------------------------------
# SPEC.md worked examples


@pytest.mark.parametrize(
    ("created", "window", "clock", "expected"),
    [
        pytest.param(local(TUE, 10), FOUR_HOURS, WORKING, local(TUE, 14), id="crc-tue-10:00"),
        # 1.5 h Tue + 2.5 h Wed
        pytest.param(local(TUE, 17, 30), FOUR_HOURS, WORKING, local(WED, 11, 30), id="crc-17:30"),
        pytest.param(local(TUE, 19), FOUR_HOURS, WORKING, local(WED, 13), id="crc-tue-19:00"),
        pytest.param(local(TUE, 20), FOUR_HOURS, WORKING, local(WED, 13), id="crc-tue-20:00"),
        pytest.param(local(TUE, 8), FOUR_HOURS, WORKING, local(TUE, 13), id="crc-tue-08:00"),
        pytest.param(local(TUE, 20), DAY, CALENDAR, local(WED, 20), id="taobao-tue-20:00"),
    ],
)
def test_spec_worked_examples(created, window, clock, expected):
    # when
    due = compute_due_at(created_at=created, window=window, clock=clock, schedule=JD_CRC)
    # then
    assert due == expected


def test_due_at_is_returned_in_utc():
    due = crc_due(local(TUE, 10))

    assert due.tzinfo is UTC
    assert due == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 14:00 +08:00


def test_window_used_up_at_closing_time_is_due_at_closing_not_next_morning():
    assert crc_due(local(TUE, 15)) == local(TUE, 19)


def test_default_schedule_is_jd_crc_when_none_given():
    due = compute_due_at(created_at=local(TUE, 17, 30), window=FOUR_HOURS, clock=WORKING)

    assert due == local(WED, 11, 30)


def test_zero_window_is_due_at_creation():
    created = local(TUE, 22)

    assert compute_due_at(created_at=created, window=timedelta(0), clock=WORKING) == created


# --------------------------------------------------------------------------
# reminders


def test_crc_created_18_30_reminder_lands_next_morning_not_at_night():
    # given a CRC ticket created half an hour before closing
    due = crc_due(local(TUE, 18, 30))
    # when
    remind = reminder_at(due_at=due, offset=timedelta(hours=1), clock=WORKING, schedule=JD_CRC)
    # then
    assert due == local(WED, 12, 30)
    assert remind == local(WED, 11, 30)
    assert is_working_time(instant=remind, schedule=JD_CRC)


def test_reminder_that_uses_up_the_morning_lands_at_opening_not_previous_evening():
    remind = reminder_at(
        due_at=local(WED, 10), offset=timedelta(hours=1), clock=WORKING, schedule=JD_CRC
    )

    assert remind == local(WED, 9)
    assert remind.tzinfo is UTC


def test_reminder_spanning_the_night_skips_it():
    remind = reminder_at(
        due_at=local(WED, 9, 30), offset=timedelta(hours=1), clock=WORKING, schedule=JD_CRC
    )

    assert remind == local(TUE, 18, 30)


def test_reminder_skips_closed_day():
    schedule = WorkingSchedule(closed_days=frozenset({WED}))

    remind = reminder_at(
        due_at=local(THU, 9, 30), offset=timedelta(hours=1), clock=WORKING, schedule=schedule
    )

    assert remind == local(TUE, 18, 30)


def test_calendar_reminder_is_due_minus_offset_even_at_night():
    due = local(WED, 1)

    remind = reminder_at(due_at=due, offset=timedelta(hours=2), clock=CALENDAR, schedule=JD_CRC)

    assert remind == local(TUE, 23)


def test_zero_offset_reminder_is_due_itself():
    due = local(WED, 12, 30)

    assert reminder_at(due_at=due, offset=timedelta(0), clock=WORKING) == due


# --------------------------------------------------------------------------
# closed days, changed hours, weekdays


def test_closed_day_is_skipped():
    schedule = WorkingSchedule(closed_days=frozenset({WED}))

    assert crc_due(local(TUE, 17, 30), schedule) == local(THU, 11, 30)


def test_several_closed_days_in_a_row_are_skipped():
    spring_festival = frozenset(TUE + timedelta(days=n) for n in range(1, 8))
    schedule = WorkingSchedule(closed_days=spring_festival)

    assert crc_due(local(TUE, 17, 30), schedule) == local(TUE + timedelta(days=8), 11, 30)


def test_changed_hours_are_respected():
    # given Wednesday runs 12:00–16:00 only
    schedule = WorkingSchedule(changed_hours={WED: (time(12, 0), time(16, 0))})
    # when
    due = crc_due(local(TUE, 17, 30), schedule)
    # then 1.5 h Tue + 2.5 h Wed from 12:00
    assert due == local(WED, 14, 30)
    assert not is_working_time(instant=local(WED, 11), schedule=schedule)
    assert not is_working_time(instant=local(WED, 16), schedule=schedule)


def test_changed_hours_shorter_than_remaining_window_spill_to_next_day():
    schedule = WorkingSchedule(changed_hours={WED: (time(12, 0), time(13, 0))})

    # 1.5 h Tue + 1 h Wed + 1.5 h Thu
    assert crc_due(local(TUE, 17, 30), schedule) == local(THU, 10, 30)


def test_changed_hours_can_open_a_normally_closed_weekday():
    # given Mon–Fri, but Saturday made a working day (adjusted working day around a holiday)
    schedule = WorkingSchedule(
        weekdays=frozenset(range(5)),
        changed_hours={SAT: (time(10, 0), time(12, 0))},
    )
    # when created Friday 17:30: 1.5 h Fri + 2 h Sat + 0.5 h Mon
    due = crc_due(local(FRI, 17, 30), schedule)
    # then
    assert due == local(MON, 9, 30)


def test_closed_day_wins_over_changed_hours():
    schedule = WorkingSchedule(
        closed_days=frozenset({WED}), changed_hours={WED: (time(12, 0), time(16, 0))}
    )

    assert crc_due(local(TUE, 17, 30), schedule) == local(THU, 11, 30)


def test_weekdays_restriction():
    # given a Monday-to-Friday schedule
    schedule = WorkingSchedule(weekdays=frozenset(range(5)))
    # when created Friday 17:30
    due = crc_due(local(FRI, 17, 30), schedule)
    # then the weekend does not count: 1.5 h Fri + 2.5 h Mon
    assert due == local(MON, 11, 30)


def test_calendar_window_is_not_stretched_by_closed_days():
    schedule = WorkingSchedule(closed_days=frozenset({WED, THU}), weekdays=frozenset({0}))

    due = compute_due_at(created_at=local(TUE, 20), window=DAY, clock=CALENDAR, schedule=schedule)

    assert due == local(WED, 20)


# --------------------------------------------------------------------------
# 24/7 schedules: no gap at midnight (Zammad #3180)


def test_all_day_schedule_runs_across_midnight():
    created = local(TUE, 23, 30)

    due = compute_due_at(
        created_at=created, window=timedelta(hours=1), clock=WORKING, schedule=ALL_DAY
    )

    assert due == local(WED, 0, 30)
    assert working_time_between(start=local(TUE, 23), end=local(WED, 1), schedule=ALL_DAY) == (
        timedelta(hours=2)
    )
    assert is_working_time(instant=local(WED, 0), schedule=ALL_DAY)
    assert is_working_time(instant=local(TUE, 23, 59), schedule=ALL_DAY)


def test_all_day_schedule_due_equals_calendar_due_over_days():
    created = local(TUE, 17, 13)
    window = timedelta(days=3, minutes=7)

    working = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=ALL_DAY)

    assert working == created + window


def test_all_day_reminder_crosses_midnight_without_gap():
    remind = reminder_at(
        due_at=local(WED, 0, 30), offset=timedelta(hours=1), clock=WORKING, schedule=ALL_DAY
    )

    assert remind == local(TUE, 23, 30)


def test_all_day_schedule_counts_elapsed_time_across_dst_change():
    # given a zone with DST: Europe/Berlin springs forward on 2026-03-29 (a 23 h day)
    berlin = ZoneInfo("Europe/Berlin")
    schedule = WorkingSchedule(tz=berlin, day_start=time(0, 0), day_end=time(0, 0))
    created = local(date(2026, 3, 28), 23, tz=berlin)
    # when
    due = compute_due_at(
        created_at=created, window=timedelta(hours=5), clock=WORKING, schedule=schedule
    )
    # then 5 elapsed hours count (local 05:00, not 04:00); note that `created + 5h`
    # would be wall-clock arithmetic on a ZoneInfo datetime, hence the UTC conversion
    assert due == created.astimezone(UTC) + timedelta(hours=5)
    assert due.astimezone(berlin).hour == 5


def test_evening_to_midnight_hours_chain_with_next_day():
    # 18:00–24:00 every day: a ticket at 23:00 with 2 h is due 19:00 next day
    schedule = WorkingSchedule(day_start=time(18, 0), day_end=time(0, 0))

    due = compute_due_at(
        created_at=local(TUE, 23), window=timedelta(hours=2), clock=WORKING, schedule=schedule
    )

    assert due == local(WED, 19)


# --------------------------------------------------------------------------
# remaining() and is_working_time()


def test_remaining_working_clock_pauses_overnight():
    # given a CRC ticket due Wed 11:30
    due = crc_due(local(TUE, 17, 30))

    # when
    def left(now: datetime) -> timedelta:
        return remaining(now=now, due_at=due, clock=WORKING, schedule=JD_CRC)

    # then nothing ticks between closing and opening
    assert left(local(TUE, 22)) == left(local(WED, 8)) == timedelta(hours=2, minutes=30)
    assert left(local(TUE, 18)) == timedelta(hours=3, minutes=30)
    assert left(local(TUE, 17, 30)) == FOUR_HOURS


def test_remaining_overdue_is_negative_calendar_difference():
    due = local(WED, 11, 30)

    late = remaining(now=local(WED, 20), due_at=due, clock=WORKING, schedule=JD_CRC)

    # the evening after the deadline still counts as lateness
    assert late == -timedelta(hours=8, minutes=30)


def test_remaining_at_due_is_zero():
    due = local(WED, 11, 30)

    assert remaining(now=due, due_at=due, clock=WORKING, schedule=JD_CRC) == timedelta(0)


def test_remaining_calendar_clock():
    due = local(WED, 20)

    assert remaining(now=local(TUE, 22), due_at=due, clock=CALENDAR) == timedelta(hours=22)
    assert remaining(now=local(WED, 21), due_at=due, clock=CALENDAR) == -timedelta(hours=1)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [(8, 59, False), (9, 0, True), (18, 59, True), (19, 0, False)],
)
def test_is_working_time_boundaries(hour, minute, expected):
    assert is_working_time(instant=local(TUE, hour, minute), schedule=JD_CRC) is expected


def test_is_working_time_accepts_other_zones():
    # 01:30 UTC is 09:30 in Shanghai
    instant = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)

    assert is_working_time(instant=instant, schedule=JD_CRC)


def test_is_working_time_false_on_closed_day():
    schedule = WorkingSchedule(closed_days=frozenset({WED}))

    assert not is_working_time(instant=local(WED, 12), schedule=schedule)


# --------------------------------------------------------------------------
# working_time_between() and working_intervals()


def test_working_time_between_counts_only_working_hours():
    between = working_time_between(start=local(TUE, 8), end=local(THU, 10), schedule=JD_CRC)

    assert between == timedelta(hours=10 + 10 + 1)


def test_working_time_between_is_zero_when_end_not_after_start():
    assert working_time_between(start=local(TUE, 12), end=local(TUE, 12), schedule=JD_CRC) == (
        timedelta(0)
    )
    assert working_time_between(start=local(TUE, 12), end=local(TUE, 10), schedule=JD_CRC) == (
        timedelta(0)
    )


def test_working_time_between_on_schedule_without_working_days_is_zero():
    schedule = WorkingSchedule(weekdays=frozenset())

    assert working_time_between(
        start=local(TUE, 8), end=local(TUE, 8) + timedelta(days=900), schedule=schedule
    ) == timedelta(0)


def test_working_intervals_are_local_and_first_is_clipped():
    schedule = WorkingSchedule(closed_days=frozenset({WED}))

    intervals = working_intervals(start=local(TUE, 17, 30), schedule=schedule)
    first, second = next(intervals), next(intervals)

    assert first == (local(TUE, 17, 30), local(TUE, 19))
    assert second == (local(THU, 9), local(THU, 19))
    assert first[0].tzinfo is SHANGHAI
    assert first[0].utcoffset() == timedelta(hours=8)


def test_working_intervals_skip_interval_already_over():
    first = next(working_intervals(start=local(TUE, 20), schedule=JD_CRC))

    assert first == (local(WED, 9), local(WED, 19))


# --------------------------------------------------------------------------
# refusals


NAIVE = datetime(2026, 11, 24, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: compute_due_at(created_at=NAIVE, window=FOUR_HOURS, clock=WORKING),
        lambda: compute_due_at(created_at=NAIVE, window=DAY, clock=CALENDAR),
        lambda: working_time_between(start=NAIVE, end=local(WED, 9), schedule=JD_CRC),
        lambda: working_time_between(start=local(TUE, 9), end=NAIVE, schedule=JD_CRC),
        lambda: remaining(now=NAIVE, due_at=local(WED, 9), clock=WORKING),
        lambda: remaining(now=local(TUE, 9), due_at=NAIVE, clock=CALENDAR),
        lambda: is_working_time(instant=NAIVE, schedule=JD_CRC),
        lambda: reminder_at(due_at=NAIVE, offset=timedelta(hours=1), clock=WORKING),
        lambda: reminder_at(due_at=NAIVE, offset=timedelta(hours=1), clock=CALENDAR),
        lambda: working_intervals(start=NAIVE, schedule=JD_CRC),
    ],
    ids=[
        "due-working",
        "due-calendar",
        "between-start",
        "between-end",
        "remaining-now",
        "remaining-due",
        "is-working",
        "reminder-working",
        "reminder-calendar",
        "intervals",
    ],
)
def test_naive_datetime_is_refused(call):
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_schedule_without_working_days_raises_instead_of_looping():
    schedule = WorkingSchedule(weekdays=frozenset())

    with pytest.raises(ValueError, match="no working time"):
        crc_due(local(TUE, 10), schedule)
    with pytest.raises(ValueError, match="no working time"):
        reminder_at(due_at=local(TUE, 10), offset=FOUR_HOURS, clock=WORKING, schedule=schedule)
    with pytest.raises(ValueError, match="no working time"):
        next(working_intervals(start=local(TUE, 10), schedule=schedule))


def test_long_closure_under_the_limit_is_still_crossed():
    # given a whole year closed (shorter than the give-up limit)
    closed = frozenset(WED + timedelta(days=n) for n in range(365))
    schedule = WorkingSchedule(closed_days=closed)
    # when
    due = crc_due(local(TUE, 19), schedule)
    # then
    assert MAX_EMPTY_DAYS > 365
    assert due == local(WED + timedelta(days=365), 13)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"day_start": time(19, 0), "day_end": time(9, 0)},
        {"day_start": time(9, 0), "day_end": time(9, 0)},
        {"weekdays": frozenset({7})},
        {"changed_hours": {WED: (time(16, 0), time(12, 0))}},
        {"changed_hours": {datetime(2026, 11, 25, tzinfo=SHANGHAI): (time(9), time(10))}},
        {"closed_days": frozenset({datetime(2026, 11, 25, tzinfo=SHANGHAI)})},
        {"day_start": time(9, 0, tzinfo=UTC)},
    ],
    ids=[
        "end-before-start",
        "empty-day",
        "bad-weekday",
        "bad-changed",
        "datetime-key",
        "datetime-closed",
        "aware-time",
    ],
)
def test_invalid_schedule_is_refused(kwargs):
    with pytest.raises(ValueError):
        WorkingSchedule(**kwargs)


def test_negative_window_and_offset_and_unknown_clock_are_refused():
    with pytest.raises(ValueError, match="negative"):
        compute_due_at(created_at=local(TUE, 10), window=-FOUR_HOURS, clock=WORKING)
    with pytest.raises(ValueError, match="negative"):
        reminder_at(due_at=local(TUE, 10), offset=-FOUR_HOURS, clock=WORKING)
    with pytest.raises(ValueError, match="clock"):
        compute_due_at(created_at=local(TUE, 10), window=FOUR_HOURS, clock="business")


def test_schedule_accepts_dict_and_is_hashable_and_immutable():
    # given
    hours = {WED: (time(12, 0), time(16, 0))}
    schedule = WorkingSchedule(changed_hours=hours)
    # when the caller's dict changes afterwards
    hours[THU] = (time(10, 0), time(11, 0))
    # then the schedule is unaffected, hashable and compares by value
    assert dict(schedule.changed_hours) == {WED: (time(12, 0), time(16, 0))}
    assert hash(schedule) == hash(WorkingSchedule(changed_hours={WED: (time(12), time(16))}))
    assert schedule == WorkingSchedule(changed_hours={WED: (time(12), time(16))})
    assert schedule != WorkingSchedule()
    with pytest.raises(TypeError):
        schedule.changed_hours[THU] = (time(10), time(11))  # type: ignore[index]


# --------------------------------------------------------------------------
# properties

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)

created_ats = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(SHANGHAI),
)
windows = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))


@st.composite
def schedules(draw, anchor: date = date(2026, 1, 1)) -> WorkingSchedule:
    """Random working calendars: hours, weekdays, closed days and changed hours."""
    start_hour = draw(st.integers(min_value=0, max_value=22))
    end_hour = draw(st.integers(min_value=start_hour + 1, max_value=24))
    day_end = time(0, 0) if end_hour == 24 else time(end_hour, 0)
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    # closed / changed days near the anchor so they actually matter
    near = st.integers(min_value=-2, max_value=25).map(lambda n: anchor + timedelta(days=n))
    closed = draw(st.frozensets(near, max_size=10))
    changed_start = draw(st.integers(min_value=0, max_value=23))
    changed_end = draw(st.integers(min_value=changed_start + 1, max_value=24))
    changed = {
        day: (time(changed_start), time(0) if changed_end == 24 else time(changed_end))
        for day in draw(st.frozensets(near, max_size=4))
    }
    return WorkingSchedule(
        day_start=time(start_hour, 0),
        day_end=day_end,
        weekdays=weekdays,
        closed_days=closed,
        changed_hours=changed,
    )


@st.composite
def tickets(draw):
    created = draw(created_ats)
    schedule = draw(schedules(anchor=created.date()))
    window = draw(windows)
    return created, window, schedule


@PROPERTY_SETTINGS
@given(ticket=tickets(), clock=st.sampled_from([CALENDAR, WORKING]))
def test_due_is_never_before_creation(ticket, clock):
    created, window, schedule = ticket

    due = compute_due_at(created_at=created, window=window, clock=clock, schedule=schedule)

    assert due >= created
    assert due.tzinfo is UTC


@PROPERTY_SETTINGS
@given(ticket=tickets())
def test_working_time_to_due_equals_window_and_due_is_earliest(ticket):
    created, window, schedule = ticket

    due = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=schedule)

    assert working_time_between(start=created, end=due, schedule=schedule) == window
    if window:
        just_before = due - timedelta(microseconds=1)
        assert working_time_between(start=created, end=just_before, schedule=schedule) < window
        assert remaining(now=created, due_at=due, clock=WORKING, schedule=schedule) == window


@PROPERTY_SETTINGS
@given(
    ticket=tickets(),
    later_by=st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m)),
)
def test_due_is_monotonic_in_creation_time(ticket, later_by):
    created, window, schedule = ticket
    later = created + later_by

    first = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=schedule)
    second = compute_due_at(created_at=later, window=window, clock=WORKING, schedule=schedule)

    assert first <= second


@PROPERTY_SETTINGS
@given(
    created=created_ats,
    window=windows,
    closed_offsets=st.frozensets(st.integers(min_value=0, max_value=20), max_size=12),
)
def test_due_never_falls_inside_a_closed_day(created, window, closed_offsets):
    # given the JD hours with random closed days after creation
    closed = frozenset(created.date() + timedelta(days=n) for n in closed_offsets)
    schedule = WorkingSchedule(closed_days=closed)
    # when
    due = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=schedule)
    # then
    due_local = due.astimezone(SHANGHAI)
    if window and due_local.date() in closed:
        # only the very start (midnight) of a closed day could be a boundary; 09–19 never is
        pytest.fail(f"due {due_local} falls on closed day {due_local.date()}")
    if window:
        assert working_time_between(start=created, end=due, schedule=schedule) == window


@PROPERTY_SETTINGS
@given(ticket=tickets(), fraction=st.floats(min_value=0, max_value=1))
def test_reminder_round_trips(ticket, fraction):
    created, window, schedule = ticket
    offset = timedelta(minutes=int(window.total_seconds() // 60 * fraction))
    due = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=schedule)

    remind = reminder_at(due_at=due, offset=offset, clock=WORKING, schedule=schedule)

    assert remind <= due
    assert remind >= created
    assert working_time_between(start=remind, end=due, schedule=schedule) == offset
    if offset:
        # Zammad #4432: a working-clock reminder falls inside working time
        assert is_working_time(instant=remind, schedule=schedule)


@PROPERTY_SETTINGS
@given(created=created_ats, window=windows)
def test_all_day_schedule_due_equals_created_plus_window(created, window):
    due = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=ALL_DAY)

    assert due == created + window
    assert working_time_between(start=created, end=due, schedule=ALL_DAY) == window


@PROPERTY_SETTINGS
@given(ticket=tickets(), now_offset=st.integers(min_value=-3 * 24 * 60, max_value=6 * 24 * 60))
def test_remaining_matches_working_time_or_calendar_when_overdue(ticket, now_offset):
    created, window, schedule = ticket
    due = compute_due_at(created_at=created, window=window, clock=WORKING, schedule=schedule)
    now = created + timedelta(minutes=now_offset)

    left = remaining(now=now, due_at=due, clock=WORKING, schedule=schedule)

    if now < due:
        assert left == working_time_between(start=now, end=due, schedule=schedule)
        assert left >= timedelta(0)
    else:
        assert left == due - now
        assert left <= timedelta(0)
