"""The audit trail's table, and on PostgreSQL a trigger that refuses UPDATE and DELETE
on it whoever asks (the app, a shell, a stray script): rows are only ever inserted.

Ops archive old rows outside the app, as a superuser, in one transaction that turns
ordinary triggers off for itself (README.md, "Audit trail"):

    BEGIN;
    SET LOCAL session_replication_role = replica;   -- superuser only
    COPY (SELECT * FROM audit_auditentry WHERE at < '2026-01-01') TO '/archive/audit-2025.csv' CSV HEADER;
    DELETE FROM audit_auditentry WHERE at < '2026-01-01';
    COMMIT;

SQLite (development) has no such trigger: AuditEntry refuses updates and deletes in
Python there as everywhere.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditentry is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_append_only();
"""


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # No parameters: the function's RAISE format has a literal %.
        schema_editor.execute(APPEND_ONLY_SQL, params=None)


def allow_changes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL, params=None)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(verbose_name='at')),
                ('actor_label', models.CharField(blank=True, max_length=150, verbose_name='actor name')),
                ('via', models.CharField(choices=[('admin', 'staff admin'), ('api', 'intake API')], max_length=8, verbose_name='via')),
                ('api_token_id', models.PositiveBigIntegerField(blank=True, null=True, verbose_name='API token id')),
                ('api_token_name', models.CharField(blank=True, max_length=100, verbose_name='API token name')),
                ('method', models.CharField(max_length=8, verbose_name='method')),
                ('path', models.CharField(max_length=500, verbose_name='path')),
                ('view_name', models.CharField(blank=True, max_length=200, verbose_name='view')),
                ('object_type', models.CharField(blank=True, max_length=100, verbose_name='object type')),
                ('object_id', models.CharField(blank=True, max_length=64, verbose_name='object id')),
                ('status_code', models.PositiveSmallIntegerField(verbose_name='status code')),
                ('outcome', models.CharField(choices=[('done', 'done'), ('shown_again', 'form shown again, nothing saved'), ('refused', 'refused'), ('error', 'server error')], max_length=16, verbose_name='outcome')),
                ('what', models.JSONField(blank=True, default=dict, verbose_name='what')),
                ('ip', models.GenericIPAddressField(blank=True, null=True, verbose_name='client IP')),
                ('user_agent', models.CharField(blank=True, max_length=256, verbose_name='user agent')),
                ('actor', models.ForeignKey(blank=True, db_index=False, help_text='Empty when nobody was logged in (a refused login, an expired session).', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='actor')),
            ],
            options={
                'verbose_name': 'audit entry',
                'verbose_name_plural': 'audit entries',
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['-at', '-id'], name='audit_entry_at'), models.Index(fields=['object_id', 'object_type'], name='audit_entry_object'), models.Index(fields=['path'], name='audit_entry_path', opclasses=['varchar_pattern_ops']), models.Index(fields=['actor', '-at'], name='audit_entry_actor_at')],
            },
        ),
        migrations.RunPython(append_only, allow_changes, elidable=False),
    ]
