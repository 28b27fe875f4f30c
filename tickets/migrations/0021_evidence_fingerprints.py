"""Evidence fingerprints for reuse detection: the SHA-256 indexed on its own, an image's
64-bit dHash (signed bigint) and its four 16-bit bands in covering indexes, the EXIF
capture date, and EvidenceFlag, the findings arbitrators see. Existing rows are
fingerprinted by ``manage.py evidence_fingerprints``."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0020_ticket_search_statistics"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EvidenceFlag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("exact", "Same file on another ticket"),
                            ("near", "Near copy of an image on another ticket"),
                            ("early_date", "Taken before the ticket was opened"),
                        ],
                        max_length=16,
                        verbose_name="reason",
                    ),
                ),
                ("cross_store", models.BooleanField(default=False, verbose_name="another store's")),
                (
                    "distance",
                    models.PositiveSmallIntegerField(
                        null=True, verbose_name="distance (bits of 64)"
                    ),
                ),
                ("created_at", models.DateTimeField(verbose_name="created at")),
            ],
            options={
                "verbose_name": "evidence flag",
                "verbose_name_plural": "evidence flags",
                "ordering": ["-cross_store", "reason", "distance", "pk"],
            },
        ),
        migrations.AddField(
            model_name="evidence",
            name="captured_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="dhash",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="dhash_band0",
            field=models.SmallIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="dhash_band1",
            field=models.SmallIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="dhash_band2",
            field=models.SmallIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="dhash_band3",
            field=models.SmallIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="evidence",
            name="fingerprinted_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="evidence",
            index=models.Index(fields=["sha256"], name="evidence_sha256"),
        ),
        migrations.AddIndex(
            model_name="evidence",
            index=models.Index(
                fields=["dhash_band0"], include=("dhash", "id"), name="evidence_dhash_band0"
            ),
        ),
        migrations.AddIndex(
            model_name="evidence",
            index=models.Index(
                fields=["dhash_band1"], include=("dhash", "id"), name="evidence_dhash_band1"
            ),
        ),
        migrations.AddIndex(
            model_name="evidence",
            index=models.Index(
                fields=["dhash_band2"], include=("dhash", "id"), name="evidence_dhash_band2"
            ),
        ),
        migrations.AddIndex(
            model_name="evidence",
            index=models.Index(
                fields=["dhash_band3"], include=("dhash", "id"), name="evidence_dhash_band3"
            ),
        ),
        migrations.AddField(
            model_name="evidenceflag",
            name="evidence",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="flags",
                to="tickets.evidence",
                verbose_name="evidence",
            ),
        ),
        migrations.AddField(
            model_name="evidenceflag",
            name="matched_evidence",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tickets.evidence",
                verbose_name="matching evidence",
            ),
        ),
        migrations.AddField(
            model_name="evidenceflag",
            name="matched_ticket",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="tickets.ticket",
                verbose_name="matching ticket",
            ),
        ),
        migrations.AddField(
            model_name="evidenceflag",
            name="ticket",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="evidence_flags",
                to="tickets.ticket",
                verbose_name="ticket",
            ),
        ),
        migrations.AddConstraint(
            model_name="evidenceflag",
            constraint=models.UniqueConstraint(
                condition=models.Q(("matched_evidence__isnull", False)),
                fields=("evidence", "matched_evidence"),
                name="evidence_flag_unique_match",
            ),
        ),
        migrations.AddConstraint(
            model_name="evidenceflag",
            constraint=models.UniqueConstraint(
                condition=models.Q(("matched_evidence__isnull", True)),
                fields=("evidence", "reason"),
                name="evidence_flag_unique_reason",
            ),
        ),
    ]
