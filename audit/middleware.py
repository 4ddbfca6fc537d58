from django.conf import settings

from .context import AuditContext, audit_context_enter, audit_context_exit
from .models import AuditSource


class AuditContextMiddleware:
    """Every request runs in an audit context: the API (the trigger paths, the schema, the provider
    webhooks) or the admin (every other screen), the user, and the client's network (its address
    found as the login lockout finds it). Nothing is read until an entry is written."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_prefixes = (f"/{settings.CAMPAIGN_ORGANIZATION}/", "/api/", "/webhooks/")

    def __call__(self, request):
        source = AuditSource.API if request.path.startswith(self.api_prefixes) else AuditSource.ADMIN
        token = audit_context_enter(AuditContext(source, getattr(request, "user", None), request=request))
        try:
            return self.get_response(request)
        finally:
            audit_context_exit(token)
