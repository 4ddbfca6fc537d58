import json
import shlex

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.context import audited_command
from campaign.roles import ADMINISTRATORS, MARKETERS
from events.models import Channel, EventConfiguration, EventField, PublicationStatus, Targeting
from events.services import event_config_create
from integrations.models import Integration
from integrations.services import integration_create, integration_rotate_token
from messages_app.models import MessageStatus
from messages_app.services import configuration_publish, message_publish, message_update

DEMO_EVENT = "EVTcartAbandonment"
DEMO_INTEGRATION = "Demo website"
DEMO_USERS = [("admin", "demo-admin", ADMINISTRATORS), ("marketer", "demo-marketer", MARKETERS)]
DEMO_FIELDS = [
    ("firstName", "First name", 100),
    ("cartAmount", "Cart amount", 32),
    ("lastProduct", "Last product", 200),
]
DEMO_HTML = """<html><body style="font-family: sans-serif">
<h1>{{ ctx.firstName }}, your cart is waiting</h1>
<p>You left <strong>{{ ctx.lastProduct }}</strong> in your cart ({{ ctx.cartAmount }}).</p>
<p><a href="https://shop.example.com/cart">Complete your order</a></p>
</body></html>"""
DEMO_TEXT = """{{ ctx.firstName }}, your cart is waiting.

You left {{ ctx.lastProduct }} in your cart ({{ ctx.cartAmount }}).
Complete your order: https://shop.example.com/cart
"""


class Command(BaseCommand):
    help = "Create demo data (users, the published EVTcartAbandonment event and message, API credentials)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the web server listens"
        )

    @transaction.atomic
    @audited_command
    def handle(self, *args, base_url, **options):
        base_url = base_url.rstrip("/")
        logins = [self._user(*spec) for spec in DEMO_USERS]
        admin_user = get_user_model().objects.get(username="admin")
        config = self._configuration(admin_user)
        self._message(config, admin_user)
        issued = self._credentials()

        org = settings.CAMPAIGN_ORGANIZATION
        body = {
            "email": "jane.doe@example.com",
            "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Leather motorbike jacket"},
        }
        curl = " \\\n  ".join(
            [
                f"curl -sS -X POST {base_url}/{org}/campaign/mc{org}/{DEMO_EVENT}",
                f"-H {shlex.quote('Authorization: Bearer ' + issued.token)}",
                f"-H {shlex.quote('X-Api-Key: ' + issued.integration.client_id)}",
                "-H 'Content-Type: application/json;charset=utf-8'",
                f"-d {shlex.quote(json.dumps(body))}",
            ]
        )
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"\nAdmin:  {base_url}/admin/")
        for username, password in logins:
            self.stdout.write(f"  login {username:<9} password {password}")
        self.stdout.write(f"\nTrigger an email (it appears in the admin under Outbox emails):\n{curl}\n")

    def _user(self, username: str, password: str, group_name: str) -> tuple[str, str]:
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group_name))
        return username, password if created else "(unchanged: the user already existed)"

    def _configuration(self, user) -> EventConfiguration:
        config = EventConfiguration.objects.filter(event_id=DEMO_EVENT).first()
        if config is None:
            config = event_config_create(
                event_id=DEMO_EVENT,
                label="Cart abandonment",
                channel=Channel.EMAIL,
                targeting=Targeting.EVENT,
                user=user,
            )
            for position, (field_id, label, max_length) in enumerate(DEMO_FIELDS):
                EventField.objects.create(
                    configuration=config,
                    field_id=field_id,
                    label=label,
                    max_length=max_length,
                    required=True,
                    position=position,
                )
        if config.status != PublicationStatus.PUBLISHED:
            configuration_publish(config=config, user=user)
            config.refresh_from_db()
        return config

    def _message(self, config: EventConfiguration, user) -> None:
        message = config.message
        if not message.subject:
            message_update(
                message=message,
                user=user,
                sender_name="Demo Shop",
                sender_email="shop@example.com",
                subject="{{ ctx.firstName }}, you forgot something in your cart",
                html=DEMO_HTML,
                text=DEMO_TEXT,
            )
        if message.status != MessageStatus.PUBLISHED:
            message_publish(message=message, user=user)

    def _credentials(self):
        integration = Integration.objects.filter(name=DEMO_INTEGRATION).first()
        if integration is None:
            return integration_create(name=DEMO_INTEGRATION)
        # The token is stored hashed and so cannot be printed again: issue a new one.
        return integration_rotate_token(integration=integration)
