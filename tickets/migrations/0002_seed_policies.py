"""Seed the SLA policies with SPEC.md's defaults; ops edit them as data afterwards."""

from datetime import time, timedelta

from django.db import migrations

JD_CALENDAR = "JD working hours 09:00–19:00"

# (platform, kind, window, clock, reminder offsets in minutes before due)
DEFAULTS = [
    # Taobao / Tmall: 24 calendar hours, reminders at 12 h and 2 h before due (ours).
    ("taobao", "normal", timedelta(hours=24), "calendar", [720, 120]),
    ("tmall", "normal", timedelta(hours=24), "calendar", [720, 120]),
    # JD normal scenario: 24 calendar hours.
    ("jd", "normal", timedelta(hours=24), "calendar", [720, 120]),
    # JD: CRC high-risk = 4 working hours, 09:00–19:00, Monday to Sunday (SPEC.md);
    # reminder 1 working hour before due (ours).
    ("jd", "crc_high_risk", timedelta(hours=4), "working", [60]),
]


def seed(apps, schema_editor):
    WorkingCalendar = apps.get_model("tickets", "WorkingCalendar")
    Policy = apps.get_model("tickets", "Policy")
    calendar, _ = WorkingCalendar.objects.get_or_create(
        name=JD_CALENDAR,
        defaults={
            "timezone": "Asia/Shanghai",
            "day_start": time(9, 0),
            "day_end": time(19, 0),
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
        },
    )
    for platform, kind, window, clock, offsets in DEFAULTS:
        Policy.objects.get_or_create(
            platform=platform,
            kind=kind,
            defaults={
                "window": window,
                "clock": clock,
                "calendar": calendar if clock == "working" else None,
                "reminder_offsets_minutes": offsets,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("tickets", "Policy").objects.all().delete()
    apps.get_model("tickets", "WorkingCalendar").objects.filter(name=JD_CALENDAR).delete()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
