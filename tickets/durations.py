"""Durations and times as people read them, in the active language: 「24 小时」,
「4 个工作小时」, 「2026-11-24 10:00」 in Beijing time.

Shared by the models' ``__str__``, the admin, the reads and the notices, so none of
them imports another for a formatting helper.
"""

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext, ngettext


def format_local(value: datetime, tz=None) -> str:
    """In the active zone (Asia/Shanghai unless a view activated another), or in ``tz``:
    notices that say "Beijing time" pass ``merchants.clock.SHANGHAI``, and passing it
    also saves the lookup when formatting thousands of rows."""
    return value.astimezone(tz or timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M")


def format_offset(minutes: int) -> str:
    if minutes % 60 == 0:
        return gettext("%(hours)d hours") % {"hours": minutes // 60}
    return gettext("%(minutes)d minutes") % {"minutes": minutes}


def duration_text(value: timedelta, *, working: bool = False) -> str:
    """「24 小时」, 「4 个工作小时」, 「1 小时 30 分钟」: a window or an offset, never
    str(timedelta) (「1 day, 0:00:00」). ``working``: on a working-hours clock."""
    minutes = int(value.total_seconds()) // 60
    hours, rest = divmod(minutes, 60)
    if not rest and working:
        return ngettext("%(count)d working hour", "%(count)d working hours", hours) % {
            "count": hours
        }
    parts = []
    if hours:
        parts.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if rest or not hours:
        parts.append(ngettext("%(count)d minute", "%(count)d minutes", rest) % {"count": rest})
    text = " ".join(parts)
    if working:
        return gettext("%(duration)s of working time") % {"duration": text}
    return text
