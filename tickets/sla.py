"""Ticket deadlines: the SLA clock.

This module is deliberately *pure*: it imports only the standard library
(datetime, zoneinfo, dataclasses) and the platforms' zone (merchants.clock, a
constant), never touches Django or the database and
never reads the current time. Every instant it reasons about is passed in by
the caller. That keeps the deadline rules testable with plain datetimes (and
property-based tests) and with frozen time, and lets the same code serve the
ticket model, the reminder/escalation sweeps, admin previews and reports.

Two clocks exist (SPEC.md, "Deadlines (the SLA clock)"):

* ``CALENDAR``: the window runs around the clock; ``due_at = created_at + window``
  (Taobao/Tmall and JD normal scenario: 24 calendar hours).
* ``WORKING``: only time inside the working schedule counts (JD CRC high-risk:
  4 working hours, 09:00–19:00 Asia/Shanghai, Monday to Sunday).

Working hours are reasoned about in local time (``schedule.tz``); every
returned instant is aware and in UTC so it can be stored as-is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from merchants.clock import SHANGHAI

__all__ = [
    "CALENDAR",
    "WORKING",
    "WorkingSchedule",
    "compute_due_at",
    "is_working_time",
    "reminder_at",
    "remaining",
    "working_intervals",
    "working_time_between",
]

CALENDAR = "calendar"
WORKING = "working"
CLOCKS = (CALENDAR, WORKING)

# time(0, 0) as an *end* of working hours means 24:00 (end of that day), so a
# 00:00–24:00 day can be written with plain `time` values.
MIDNIGHT = time(0, 0)

# A schedule without any working time would make the forward/backward search
# loop forever; after this many consecutive empty local days we give up loudly.
# 400 > one year, so even a long closure (e.g. a whole year closed) is allowed.
MAX_EMPTY_DAYS = 400

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


class _FrozenHours(Mapping):
    """Read-only, hashable mapping ``date -> (start, end)``.

    WorkingSchedule is a frozen dataclass and therefore hashed by its fields;
    a plain dict would make ``hash(schedule)`` fail, and a shared mutable dict
    could change a schedule behind a cached computation's back.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Iterable[tuple[date, tuple[time, time]]]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: date) -> tuple[time, time]:
        return self._data[key]

    def __iter__(self) -> Iterator[date]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


def _check_hours(start: time, end: time, what: str) -> None:
    for value in (start, end):
        if not isinstance(value, time):
            raise ValueError(f"{what}: expected datetime.time values, got {value!r}")
        if value.tzinfo is not None:
            # The schedule's own tz gives the hours their meaning; a second
            # zone on the time would be ambiguous.
            raise ValueError(f"{what}: times must be naive wall-clock times, got {value!r}")
    # end == 00:00 means 24:00, which is after any start (00:00–24:00 = whole day).
    if end != MIDNIGHT and end <= start:
        raise ValueError(
            f"{what}: working hours must end after they start (got {start}–{end}); "
            "use time(0, 0) as the end for 24:00, or closed_days to close a day"
        )


def _check_date(value: object, what: str) -> date:
    # datetime is a subclass of date but never equals one, so a datetime key
    # would silently never match; refuse it.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{what}: expected datetime.date values, got {value!r}")
    return value


@dataclass(frozen=True)
class WorkingSchedule:
    """When the working clock runs, in local time ``tz``.

    Precedence for a local date: a closed day has no working time; otherwise a
    ``changed_hours`` entry applies (even on a weekday that normally does not
    work, e.g. a weekend made a working day around a holiday); otherwise the
    default hours apply on ``weekdays``.

    Defaults are the JD CRC high-risk calendar; ``changed_hours`` accepts a
    dict and is stored as a read-only hashable mapping.
    """

    # JD: CRC high-risk working clock = 09:00–19:00 Asia/Shanghai, Monday to Sunday (SPEC.md)
    tz: ZoneInfo = SHANGHAI
    day_start: time = time(9, 0)
    day_end: time = time(19, 0)  # time(0, 0) means 24:00
    weekdays: frozenset[int] = frozenset(range(7))  # date.weekday(): Monday=0 … Sunday=6
    closed_days: frozenset[date] = frozenset()  # *ours*: e.g. Spring Festival (SPEC.md)
    changed_hours: Mapping[date, tuple[time, time]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.tz, tzinfo):
            raise ValueError(f"tz must be a tzinfo (e.g. ZoneInfo), got {self.tz!r}")
        _check_hours(self.day_start, self.day_end, "day_start/day_end")

        weekdays = frozenset(self.weekdays)
        if any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
            raise ValueError(f"weekdays must be date.weekday() values 0–6, got {sorted(weekdays)}")

        closed = frozenset(_check_date(d, "closed_days") for d in self.closed_days)

        hours: list[tuple[date, tuple[time, time]]] = []
        for day, pair in dict(self.changed_hours).items():
            _check_date(day, "changed_hours")
            try:
                start, end = pair
            except (TypeError, ValueError):
                raise ValueError(
                    f"changed_hours[{day}]: expected a (start, end) pair, got {pair!r}"
                ) from None
            _check_hours(start, end, f"changed_hours[{day}]")
            hours.append((day, (start, end)))

        # Normalise to immutable, hashable containers (the constructor still
        # accepts sets, lists and dicts).
        object.__setattr__(self, "weekdays", weekdays)
        object.__setattr__(self, "closed_days", closed)
        object.__setattr__(self, "changed_hours", _FrozenHours(hours))

    def hours_on(self, day: date) -> tuple[time, time] | None:
        """The (start, end) working hours on local date ``day``, or None if closed."""
        if day in self.closed_days:
            return None
        changed = self.changed_hours.get(day)
        if changed is not None:
            return changed
        if day.weekday() in self.weekdays:
            return (self.day_start, self.day_end)
        return None


# --------------------------------------------------------------------------
# helpers


def _require_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` in UTC; refuse naive datetimes instead of guessing a zone."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {value!r}; "
            "the SLA clock never guesses a time zone"
        )
    # Arithmetic on datetimes that share a ZoneInfo is wall-clock arithmetic
    # (wrong across DST changes); UTC arithmetic is always elapsed time.
    return value.astimezone(UTC)


def _require_window(value: timedelta, name: str) -> timedelta:
    if not isinstance(value, timedelta):
        raise ValueError(f"{name} must be a timedelta, got {value!r}")
    if value < _ZERO:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _require_clock(clock: str) -> str:
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, got {clock!r}")
    return clock


def _schedule_or_default(schedule: WorkingSchedule | None) -> WorkingSchedule:
    # None means the SPEC's default working calendar (JD CRC, 09:00–19:00 Mon–Sun).
    return WorkingSchedule() if schedule is None else schedule


def _local_date(instant_utc: datetime, schedule: WorkingSchedule) -> date:
    return instant_utc.astimezone(schedule.tz).date()


def _interval_on(day: date, schedule: WorkingSchedule) -> tuple[datetime, datetime] | None:
    """The UTC working interval [start, end) of local date ``day``, or None."""
    hours = schedule.hours_on(day)
    if hours is None:
        return None
    start_t, end_t = hours
    # Build bounds as aware *local* datetimes, then convert: the offset that
    # applies on that date (DST included) is the zone's business.
    start = datetime.combine(day, start_t, tzinfo=schedule.tz).astimezone(UTC)
    end_day = day + _ONE_DAY if end_t == MIDNIGHT else day
    end = datetime.combine(end_day, end_t, tzinfo=schedule.tz).astimezone(UTC)
    if end <= start:  # only possible around an odd DST jump; no working time then
        return None
    return start, end


def _no_working_time_error(day: date) -> ValueError:
    return ValueError(
        f"the working schedule has no working time for more than {MAX_EMPTY_DAYS} "
        f"consecutive days (searching around {day.isoformat()}); check its weekdays, "
        "closed days and changed hours"
    )


def _forward_utc(start: datetime, schedule: WorkingSchedule) -> Iterator[tuple[datetime, datetime]]:
    """UTC working intervals at or after ``start`` (first one clipped), endless."""
    day = _local_date(start, schedule)
    empty_days = 0
    while True:
        interval = _interval_on(day, schedule)
        if interval is None:
            empty_days += 1
            if empty_days > MAX_EMPTY_DAYS:
                raise _no_working_time_error(day)
        else:
            empty_days = 0
            s, e = interval
            if e > start:
                yield max(s, start), e
        day += _ONE_DAY


def _backward_utc(end: datetime, schedule: WorkingSchedule) -> Iterator[tuple[datetime, datetime]]:
    """UTC working intervals at or before ``end`` (last one clipped), latest first."""
    day = _local_date(end, schedule)
    empty_days = 0
    while True:
        interval = _interval_on(day, schedule)
        if interval is None:
            empty_days += 1
            if empty_days > MAX_EMPTY_DAYS:
                raise _no_working_time_error(day)
        else:
            empty_days = 0
            s, e = interval
            if s < end:
                yield s, min(e, end)
        day -= _ONE_DAY


# --------------------------------------------------------------------------
# public API


def working_intervals(
    *, start: datetime, schedule: WorkingSchedule
) -> Iterator[tuple[datetime, datetime]]:
    """Working intervals ``(start, end)`` from ``start`` onwards, in ``schedule.tz``.

    The first interval is clipped to ``start``; intervals are half-open and
    never overlap. The iterator is endless; it raises ValueError once it meets
    more than MAX_EMPTY_DAYS consecutive days without working time.
    """
    # Validate now, not at the first next(): a generator would defer the error.
    start_utc = _require_aware(start, "start")
    tz = schedule.tz
    return ((s.astimezone(tz), e.astimezone(tz)) for s, e in _forward_utc(start_utc, schedule))


def is_working_time(*, instant: datetime, schedule: WorkingSchedule) -> bool:
    """Whether the working clock runs at ``instant`` (False = show "clock paused")."""
    instant_utc = _require_aware(instant, "instant")
    interval = _interval_on(_local_date(instant_utc, schedule), schedule)
    # Half-open [start, end): 19:00 is already closed. An interval ending at
    # 24:00 hands over to the next day's 00:00 start, so midnight counts as
    # working time on a 24/7 schedule (Zammad #3180: no closed minute).
    return interval is not None and interval[0] <= instant_utc < interval[1]


def working_time_between(*, start: datetime, end: datetime, schedule: WorkingSchedule) -> timedelta:
    """Working time elapsed in [start, end); ``timedelta(0)`` if end <= start."""
    start_utc = _require_aware(start, "start")
    end_utc = _require_aware(end, "end")
    if end_utc <= start_utc:
        return _ZERO
    # Walk the local dates of the range rather than the endless iterator, so a
    # schedule with no working time simply yields 0 here instead of raising.
    total = _ZERO
    day = _local_date(start_utc, schedule)
    last = _local_date(end_utc, schedule)
    while day <= last:
        interval = _interval_on(day, schedule)
        if interval is not None:
            s, e = max(interval[0], start_utc), min(interval[1], end_utc)
            if e > s:
                total += e - s
        day += _ONE_DAY
    return total


def compute_due_at(
    *,
    created_at: datetime,
    window: timedelta,
    clock: str,
    schedule: WorkingSchedule | None = None,
) -> datetime:
    """The deadline (UTC) of a ticket created at ``created_at``.

    Calendar clock: ``created_at + window``; the schedule is ignored, so closed
    days never stretch a calendar window (Zammad #390: a holiday feed turned a
    48 h SLA into 6 days).

    Working clock: the *earliest* instant at which exactly ``window`` of working
    time has elapsed since ``created_at``. Created 15:00 with 4 h due at 19:00
    the same day, not 09:00 the next morning.
    """
    created_utc = _require_aware(created_at, "created_at")
    window = _require_window(window, "window")
    if _require_clock(clock) == CALENDAR:
        # Taobao/Tmall/JD normal = 24 calendar hours from creation (SPEC.md)
        return created_utc + window
    if window == _ZERO:
        return created_utc
    # JD: CRC high-risk = 4 working hours, 09:00–19:00 (SPEC.md)
    left = window
    for s, e in _forward_utc(created_utc, _schedule_or_default(schedule)):
        span = e - s
        if left <= span:
            # `<=`: when the window is used up exactly at the end of an
            # interval, the deadline is that end (19:00), the earliest instant.
            # Touching intervals (00:00–24:00) thus chain without a gap.
            return s + left
        left -= span
    raise AssertionError("unreachable: _forward_utc is endless or raises")  # pragma: no cover


def remaining(
    *,
    now: datetime,
    due_at: datetime,
    clock: str,
    schedule: WorkingSchedule | None = None,
) -> timedelta:
    """Time left until ``due_at`` as the clock counts it; negative when overdue.

    Working clock: working time between now and due_at, so the countdown
    pauses outside working hours. Once overdue the clock kind no longer
    matters: the (negative) calendar difference says how late the reply is.
    """
    now_utc = _require_aware(now, "now")
    due_utc = _require_aware(due_at, "due_at")
    if _require_clock(clock) == CALENDAR or now_utc >= due_utc:
        return due_utc - now_utc
    return working_time_between(start=now_utc, end=due_utc, schedule=_schedule_or_default(schedule))


def reminder_at(
    *,
    due_at: datetime,
    offset: timedelta,
    clock: str,
    schedule: WorkingSchedule | None = None,
) -> datetime:
    """When to send the reminder that comes ``offset`` before ``due_at`` (UTC).

    Calendar clock: ``due_at - offset``.

    Working clock: the *latest* instant t <= due_at with exactly ``offset`` of
    working time between t and due_at. It therefore lands inside working time,
    or exactly at its start, never at night or on a closed day (Zammad #4432:
    reminders fired at midnight although the calendar said 09–19). Due Wed
    10:00 with 1 h gives Wed 09:00, not Tue 19:00.
    """
    due_utc = _require_aware(due_at, "due_at")
    offset = _require_window(offset, "offset")
    if _require_clock(clock) == CALENDAR:
        return due_utc - offset
    if offset == _ZERO:
        return due_utc
    left = offset
    for s, e in _backward_utc(due_utc, _schedule_or_default(schedule)):
        span = e - s
        if left <= span:
            # `<=`: using up exactly a whole interval lands on its start
            # (09:00), the latest instant with the right amount of work left.
            return e - left
        left -= span
    raise AssertionError("unreachable: _backward_utc is endless or raises")  # pragma: no cover
