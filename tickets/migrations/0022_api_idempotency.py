"""The CS system's API: idempotency keys of its requests, and the platform's own evidence
(Evidence.from_platform) kept apart from the store's."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0021_evidence_fingerprints'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='evidence',
            name='from_platform',
            field=models.BooleanField(default=False, verbose_name='platform'),
        ),
        migrations.CreateModel(
            name='ApiIdempotencyKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=100, verbose_name='key')),
                ('method', models.CharField(max_length=8, verbose_name='method')),
                ('path', models.TextField(verbose_name='path')),
                ('fingerprint', models.CharField(max_length=64, verbose_name='request fingerprint (SHA-256)')),
                ('response_status', models.PositiveSmallIntegerField(verbose_name='response status')),
                ('response_body', models.JSONField(verbose_name='response body')),
                ('created_at', models.DateTimeField(db_index=True, verbose_name='created at')),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'API idempotency key',
                'verbose_name_plural': 'API idempotency keys',
                'constraints': [models.UniqueConstraint(fields=('user', 'key'), name='api_idempotency_key_unique')],
            },
        ),
    ]
