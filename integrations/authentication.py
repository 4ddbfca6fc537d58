from rest_framework import authentication, exceptions

from .selectors import integration_authenticate


class IntegrationUser:
    """The caller of the trigger API: an integration, never an admin user."""

    is_authenticated = True

    def __init__(self, integration):
        self.integration = integration


class IntegrationAuthentication(authentication.BaseAuthentication):
    """`X-Api-Key: <client id>` plus `Authorization: Bearer <token>`, as ACS expects."""

    def authenticate(self, request):
        client_id = request.META.get("HTTP_X_API_KEY", "").strip()
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not client_id and not scheme:
            return None
        if not client_id or scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed(
                "Send the client id as X-Api-Key and the token as 'Authorization: Bearer <token>'."
            )
        integration = integration_authenticate(client_id=client_id, token=token.strip())
        if integration is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API credentials.")
        return IntegrationUser(integration), integration

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
