"""Durations as staff read them, in the active language: 「24 小时」, 「4 个工作小时」.

Shared by the models' ``__str__`` and the admin, so neither imports the other.
"""

from datetime import timedelta

from django.utils.translation import gettext, ngettext


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
