"""Seed JD's ops consequences with our defaults; ops edit them as data afterwards.

SPEC.md ("JD ops consequences"): a ticket not handled in time gets a warning, points or
a fine, and serious accumulation can close the store. The amounts are *ours*.
"""

from decimal import Decimal

from django.db import migrations

# (n-th timeout of a store in an Asia/Shanghai month, action, points, fine in CNY)
JD_RULES = [
    (1, "warning", 0, Decimal("0.00")),
    (3, "points", 2, Decimal("0.00")),
    (6, "fine", 0, Decimal("500.00")),
]
# 48 points in 365 days flag a JD store for closure (ours; 48 = one serious violation).
JD_POLICY = {"closure_points": 48, "window_days": 365}


def seed(apps, schema_editor):
    PenaltyRule = apps.get_model("arbitration", "PenaltyRule")
    PenaltyPolicy = apps.get_model("arbitration", "PenaltyPolicy")
    for from_count, action, points, amount in JD_RULES:
        PenaltyRule.objects.get_or_create(
            platform="jd",
            from_count=from_count,
            defaults={"action": action, "points": points, "amount": amount},
        )
    PenaltyPolicy.objects.get_or_create(platform="jd", defaults=JD_POLICY)


def unseed(apps, schema_editor):
    PenaltyRule = apps.get_model("arbitration", "PenaltyRule")
    PenaltyPolicy = apps.get_model("arbitration", "PenaltyPolicy")
    PenaltyEntry = apps.get_model("arbitration", "PenaltyEntry")
    # A rule the ledger points at stays (PROTECT): the ledger keeps its history.
    PenaltyRule.objects.filter(
        platform="jd", from_count__in=[from_count for from_count, *_ in JD_RULES]
    ).exclude(pk__in=PenaltyEntry.objects.values("rule_id")).delete()
    PenaltyPolicy.objects.filter(platform="jd").delete()


class Migration(migrations.Migration):
    dependencies = [("arbitration", "0004_reports_and_penalties")]

    operations = [migrations.RunPython(seed, unseed)]
