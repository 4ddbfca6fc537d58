import base64
import hashlib
import hmac
import json
import os
import secrets
import shlex
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from campaign.roles import ADMINISTRATORS, MARKETERS
from events.models import Channel, EventConfiguration, EventField, PublicationStatus, Targeting
from events.services import event_config_create, event_config_structure_set
from integrations.models import Integration
from integrations.selectors import token_digest
from integrations.services import IssuedCredentials, integration_create, integration_rotate_token
from messages_app.models import MessageStatus
from messages_app.services import configuration_publish, message_publish, message_update
from profiles.models import AppSubscription, AttributeDefinition, Profile, Service, SubscriptionSource
from profiles.services import (
    app_subscription_save,
    attribute_definition_save,
    profile_save,
    service_save,
    subscription_subscribe,
    subscription_unsubscribe,
)

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

# The profile path: a profile-based email of the "Loyalty programme" service, found by the
# website's customer id, greeting the profile by name, with its unsubscribe link.
PROFILE_EVENT = "EVTpointsEarned"
PROFILE_STRUCTURE = {
    "fields": [
        {"field_id": "customerId", "label": "Customer ID", "type": "text", "required": True},
        {"field_id": "points", "label": "Points earned", "type": "integer", "required": True},
    ],
    "collections": [],
    "enrichments": [
        {
            "name": "customer",
            "target": "event",
            "resource": "profile",
            "join": [{"event_field": "customerId", "profile_field": "external_id"}],
            "targeting": True,
        }
    ],
}
PROFILE_HTML = """<html><body style="font-family: sans-serif">
<h1>{{ customer.first_name }}, you earned {{ ctx.points }} points</h1>
<p>Your tier: <strong>{{ customer.attributes.loyalty_tier }}</strong>,
member since {{ customer.attributes.member_since|format_date('long') }}.</p>
<p style="font-size: small"><a href="{{ unsubscribe_url }}">Unsubscribe</a>
from the loyalty programme emails.</p>
</body></html>"""
PROFILE_TEXT = """{{ customer.first_name }}, you earned {{ ctx.points }} points.
Your tier: {{ customer.attributes.loyalty_tier }}.

Unsubscribe: {{ unsubscribe_url }}
"""
DEMO_ATTRIBUTES = [("loyalty_tier", "Loyalty tier", "text"), ("member_since", "Member since", "date")]
DEMO_SERVICES = [("loyalty", "Loyalty programme"), ("newsletter", "Newsletter")]
# (external id, first name, last name, email, tier, member since, services, services left)
DEMO_PROFILES = [
    ("C-1001", "Jane", "Doe", "jane.doe@example.com", "gold", "2021-03-04", ["loyalty", "newsletter"], []),
    ("C-1002", "Omar", "Haddad", "omar.haddad@example.com", "silver", "2023-09-12", ["loyalty"], []),
    ("C-1003", "Ana", "Silva", "ana.silva@example.com", "bronze", "2025-01-20", ["newsletter"], ["loyalty"]),
]
DEMO_APPLICATION = "com.example.shop"


class Command(BaseCommand):
    help = "Create demo data (users, the published EVTcartAbandonment event and message, API credentials)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where the web server listens"
        )
        parser.add_argument(
            "--secret-file",
            type=Path,
            default=None,
            help="the secret the demo API token is derived from, created on first use "
            "(default: demo-api-secret in CAMPAIGN_VAR_DIR)",
        )

    @transaction.atomic
    def handle(self, *args, base_url, secret_file, **options):
        base_url = base_url.rstrip("/")
        logins = [self._user(*spec) for spec in DEMO_USERS]
        admin_user = get_user_model().objects.get(username="admin")
        config = self._configuration(admin_user)
        self._message(config, admin_user)
        services = self._profiles()
        self._profile_message(self._profile_configuration(admin_user), admin_user, services["loyalty"])
        issued = self._credentials(secret_file or Path(settings.VAR_DIR) / "demo-api-secret")

        org = settings.CAMPAIGN_ORGANIZATION
        body = {
            "email": "jane.doe@example.com",
            "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Leather motorbike jacket"},
        }
        event_url = f"{base_url}/{org}/campaign/mc{org}/{DEMO_EVENT}"
        headers = [
            f"-H {shlex.quote('Authorization: Bearer ' + issued.token)}",
            f"-H {shlex.quote('X-Api-Key: ' + issued.integration.client_id)}",
        ]
        trigger = " \\\n  ".join(
            [
                f"curl -sS -X POST {event_url}",
                *headers,
                "-H 'Content-Type: application/json;charset=utf-8'",
                f"-d {shlex.quote(json.dumps(body))}",
            ]
        )
        status = " \\\n  ".join([f"curl -sS {event_url}/<PKey>", *headers])
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"\nAdmin:  {base_url}/admin/")
        for username, password in logins:
            self.stdout.write(f"  login {username:<9} password {password}")
        self.stdout.write(f"\nTrigger an email (it appears in the admin under Outbox emails):\n{trigger}\n")
        self.stdout.write(f"\nLook up its status (<PKey>: the PKey of the answer above):\n{status}\n")
        profile_curl = " \\\n  ".join(
            [
                f"curl -sS -X POST {base_url}/{org}/campaign/mc{org}/{PROFILE_EVENT}",
                *headers,
                "-H 'Content-Type: application/json;charset=utf-8'",
                f"-d {shlex.quote(json.dumps({'ctx': {'customerId': 'C-1001', 'points': 120}}))}",
            ]
        )
        self.stdout.write(
            "\nTrigger a profile-based email to the profile C-1001 (Jane Doe, under Profiles), with her "
            "name and her unsubscribe link; C-1003 left the loyalty programme, so an event for her "
            f"ends ignored:\n{profile_curl}\n"
        )

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

    def _profiles(self) -> dict[str, Service]:
        for name, label, type_ in DEMO_ATTRIBUTES:
            if not AttributeDefinition.objects.filter(name=name).exists():
                attribute_definition_save(
                    definition=AttributeDefinition(), name=name, label=label, type=type_
                )
        services = {}
        for name, label in DEMO_SERVICES:
            services[name] = Service.objects.filter(name=name).first() or service_save(
                service=Service(), name=name, label=label, channel=Channel.EMAIL
            )
        for external_id, first, last, email, tier, since, joined, left in DEMO_PROFILES:
            if Profile.objects.filter(external_id=external_id).exists():
                continue
            profile = profile_save(
                external_id=external_id,
                first_name=first,
                last_name=last,
                email=email,
                language="en",
                attributes={"loyalty_tier": tier, "member_since": since},
            )
            for name in joined + left:
                subscription_subscribe(
                    profile=profile, service=services[name], source=SubscriptionSource.IMPORT
                )
            for name in left:
                subscription_unsubscribe(
                    profile=profile, service=services[name], source=SubscriptionSource.UNSUBSCRIBE_PAGE
                )
            app_subscription_save(
                app_subscription=AppSubscription(),
                profile=profile,
                application=DEMO_APPLICATION,
                platform="gcm",
                registration_token=f"demo-token-{external_id}",
                device="Demo phone",
            )
        return services

    def _profile_configuration(self, user) -> EventConfiguration:
        config = EventConfiguration.objects.filter(event_id=PROFILE_EVENT).first()
        if config is None:
            config = event_config_create(
                event_id=PROFILE_EVENT,
                label="Loyalty points earned",
                channel=Channel.EMAIL,
                targeting=Targeting.PROFILE,
                user=user,
            )
            event_config_structure_set(config=config, structure=PROFILE_STRUCTURE, user=user)
        if config.status != PublicationStatus.PUBLISHED:
            configuration_publish(config=config, user=user)
            config.refresh_from_db()
        return config

    def _profile_message(self, config: EventConfiguration, user, service: Service) -> None:
        message = config.message
        if not message.subject:
            message_update(
                message=message,
                user=user,
                sender_name="Demo Shop",
                sender_email="loyalty@example.com",
                subject="{{ customer.first_name }}, you earned {{ ctx.points }} points",
                html=PROFILE_HTML,
                text=PROFILE_TEXT,
                service=service,
            )
        if message.status != MessageStatus.PUBLISHED:
            message_publish(message=message, user=user)

    def _credentials(self, secret_file: Path) -> IssuedCredentials:
        """The demo credentials, the same at every run: the token is stored hashed, so it cannot be
        read back; it is derived from a secret kept in a file (created on first use) instead."""
        token = _demo_token(secret_file)
        integration = Integration.objects.filter(name=DEMO_INTEGRATION).first()
        if integration is None:
            return integration_create(name=DEMO_INTEGRATION, token=token)
        if integration.is_active and hmac.compare_digest(integration.token_hash, token_digest(token)):
            return IssuedCredentials(integration=integration, token=token)
        # A new secret file, a token rotated or revoked in the admin: the demo's token again.
        return integration_rotate_token(integration=integration, token=token)


def _demo_token(secret_file: Path) -> str:
    try:
        secret = secret_file.read_bytes().strip()
    except FileNotFoundError:
        secret = secrets.token_hex(32).encode()
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        # Readable by its owner only, and never overwritten: a second run reads the same secret.
        descriptor = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secret + b"\n")
    digest = hmac.new(secret, b"Message Center demo API token", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
