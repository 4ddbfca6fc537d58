"""The API credentials, idempotency keys and callback attempts moved here from the `campaign` app.
Their tables keep their names and rows: this migration only tells Django's state where the
models now live (campaign/migrations/0005 removes them from `campaign`'s state)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('campaign', '0004_rowcache_notify'),
        ('events', '0005_event_insert_defaults_fewer_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Integration',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=200)),
                        ('client_id', models.CharField(editable=False, max_length=64, unique=True)),
                        ('token_hash', models.CharField(editable=False, max_length=64)),
                        ('token_hint', models.CharField(editable=False, max_length=12)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('revoked_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('all_events', models.BooleanField(default=True, help_text='Allowed to trigger every event; otherwise only the events listed below.')),
                        ('rate_limit', models.PositiveIntegerField(blank=True, help_text="Requests per second; empty for the server's default.", null=True)),
                        ('callback_url', models.URLField(blank=True, help_text='https://… receiving final statuses.', max_length=500, verbose_name='status callback URL')),
                        ('callback_secret', models.CharField(blank=True, editable=False, max_length=64)),
                        ('allowed_events', models.ManyToManyField(blank=True, related_name='+', to='events.eventconfiguration', verbose_name='allowed events')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'campaign_integration',
                        'ordering': ['name'],
                        'permissions': [('revoke_integration', 'Can revoke API credentials')],
                    },
                ),
                migrations.CreateModel(
                    name='IdempotencyKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255)),
                        ('request_hash', models.CharField(max_length=64)),
                        ('response_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('response_content_type', models.CharField(blank=True, max_length=100)),
                        ('response_body', models.BinaryField(blank=True, null=True)),
                        ('created_at', models.DateTimeField()),
                        ('integration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.integration')),
                    ],
                    options={
                        'db_table': 'campaign_idempotencykey',
                        'indexes': [models.Index(fields=['created_at'], name='idempotency_created')],
                        'constraints': [models.UniqueConstraint(fields=('integration', 'key'), name='unique_idempotency_key_per_integration')],
                    },
                ),
                migrations.CreateModel(
                    name='CallbackAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event_status', models.CharField(max_length=20)),
                        ('url', models.CharField(max_length=500)),
                        ('result', models.CharField(choices=[('delivered', 'Delivered'), ('refused', 'Refused'), ('failed', 'Failed')], max_length=10)),
                        ('response_status', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='events.event')),
                        ('integration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='callback_attempts', to='integrations.integration')),
                    ],
                    options={
                        'db_table': 'campaign_callbackattempt',
                        'ordering': ['-created_at', '-pk'],
                        'indexes': [models.Index(fields=['integration', 'result', 'created_at'], name='callback_attempt_lookup')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
