"""Seed each platform's preset reply outcomes (回单选项) per SPEC.md; ops edit them as data."""

from django.db import migrations

# code, Chinese label, English label, settles, escalates, free text, remark, agreed-at, min contacts
OPTIONS = [
    # Every reply needs at least one counting contact attempt (SPEC.md).
    ("settled", "已协商一致", "Settled with the consumer", True, False, False, False, True, 1),
    # "Unreachable" must prove several tries: at least two.
    ("unreachable", "未解决-未联系上", "Not settled – consumer unreachable", False, True, False, False, False, 2),
    ("disagrees", "未解决-消费者不认可", "Not settled – consumer disagrees", False, True, False, False, False, 1),
    ("other", "其他", "Other (with a remark)", False, False, False, True, False, 1),
]
# JD: if no preset fits, a free-text reply.
JD_FREE_TEXT = ("free_text", "自定义回复", "Free-text reply", False, False, True, True, False, 1)


def seed(apps, schema_editor):
    ReplyOption = apps.get_model("tickets", "ReplyOption")
    for platform in ("taobao", "tmall", "jd"):
        options = OPTIONS + ([JD_FREE_TEXT] if platform == "jd" else [])
        for position, row in enumerate(options, start=1):
            code, label, label_en, settles, escalates, free_text, remark, agreed_at, contacts = row
            ReplyOption.objects.get_or_create(
                platform=platform,
                code=code,
                defaults={
                    "label": label,
                    "label_en": label_en,
                    "settles": settles,
                    "escalates": escalates,
                    "free_text": free_text,
                    "requires_remark": remark,
                    "requires_agreed_at": agreed_at,
                    "min_contact_attempts": contacts,
                    "position": position * 10,
                },
            )


def unseed(apps, schema_editor):
    apps.get_model("tickets", "ReplyOption").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_seed_policies")]

    operations = [migrations.RunPython(seed, unseed)]
