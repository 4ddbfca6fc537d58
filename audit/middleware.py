from axes.helpers import get_client_ip_address
from django.conf import settings

from .context import AuditContext, audit_context, ip_network_of
from .models import AuditSource


class AuditContextMiddleware:
    """Every request runs in an audit context: the API (the trigger paths, the schema, the provider
    webhooks) or the admin (every other screen), the user, the client's network
    (its address found as the login lockout finds it)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_prefixes = (f"/{settings.CAMPAIGN_ORGANIZATION}/", "/api/", "/webhooks/")

    def __call__(self, request):
        source = AuditSource.API if request.path.startswith(self.api_prefixes) else AuditSource.ADMIN
        context = AuditContext(
            source=source,
            user=getattr(request, "user", None),
            ip_network=ip_network_of(get_client_ip_address(request) or ""),
        )
        with audit_context(context):
            return self.get_response(request)
