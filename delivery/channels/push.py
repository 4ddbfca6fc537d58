"""Push backends: Firebase Cloud Messaging HTTP v1 (Android, and iOS through APNs), and the
local capture of development."""

import json
from pathlib import Path

import google.auth.exceptions
import google.auth.transport.requests
from django.conf import settings
from google.oauth2 import service_account

from delivery.targeting import Recipient
from messages_app.rendering import RenderedPush

from ..models import CapturedMessage
from .base import SendFailure, idempotency_key_for
from .http import http_post, http_session, is_temporary_status

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM error codes that refuse the registration token itself.
FCM_TOKEN_ERRORS = {"UNREGISTERED", "SENDER_ID_MISMATCH"}


def fcm_message(*, pkey: str, recipient: Recipient, rendered: RenderedPush) -> dict:
    """The FCM v1 `message` of one notification, with its Android and APNs parts."""
    key = idempotency_key_for(pkey)
    data = {**rendered.data, "mc_message_id": key}
    if rendered.deep_link:
        data["deep_link"] = rendered.deep_link
    android_notification = {"click_action": rendered.deep_link} if rendered.deep_link else {}
    aps: dict = {}
    if rendered.sound:
        android_notification["sound"] = rendered.sound
        aps["sound"] = rendered.sound
    if rendered.badge is not None:
        aps["badge"] = rendered.badge
    message = {
        "token": recipient.push_token,
        "notification": {"title": rendered.title, "body": rendered.body},
        "data": data,
        # The same collapse key on every attempt: a notification repeated after a crash
        # replaces the first one on the device instead of showing twice.
        "android": {"collapse_key": key, "notification": android_notification},
        "apns": {"headers": {"apns-collapse-id": key[:64]}, "payload": {"aps": aps}},
    }
    if not android_notification:
        del message["android"]["notification"]
    return message


class FcmBackend:
    """POST /v1/projects/{project}/messages:send with an OAuth 2 token of a service account
    (a JWT signed with the account's key, exchanged at its token_uri)."""

    def __init__(self):
        if settings.FCM_SERVICE_ACCOUNT_JSON:
            info = json.loads(settings.FCM_SERVICE_ACCOUNT_JSON)
        else:
            info = json.loads(Path(settings.FCM_SERVICE_ACCOUNT_FILE).read_text())
        self.credentials = service_account.Credentials.from_service_account_info(info, scopes=[FCM_SCOPE])
        project = settings.FCM_PROJECT_ID or info["project_id"]
        self.url = f"{settings.FCM_API_URL.rstrip('/')}/v1/projects/{project}/messages:send"
        self.session = http_session()

    def _token(self) -> str:
        if not self.credentials.valid:
            try:
                self.credentials.refresh(google.auth.transport.requests.Request(session=self.session))
            except google.auth.exceptions.GoogleAuthError as exc:
                raise SendFailure(
                    f"No FCM access token: {exc}", temporary=True, response=str(exc)[:1000]
                ) from exc
        return self.credentials.token

    def send(self, *, pkey: str, recipient: Recipient, rendered: RenderedPush) -> str:
        response = http_post(
            self.session,
            self.url,
            json={"message": fcm_message(pkey=pkey, recipient=recipient, rendered=rendered)},
            headers={"Authorization": f"Bearer {self._token()}"},
        )
        if response.status_code == 200:
            return response.json()["name"]
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        codes = {
            detail.get("errorCode")
            for detail in error.get("details", [])
            if isinstance(detail, dict) and detail.get("errorCode")
        }
        if response.status_code == 401:
            # An access token revoked or expired early: fetch a new one on the next attempt.
            self.credentials.token = None
        reason = error.get("message") or response.text[:300]
        if codes:
            reason = f"{reason} ({', '.join(sorted(codes))})"
        raise SendFailure(
            f"FCM refused the notification: {response.status_code} {reason}",
            temporary=is_temporary_status(response.status_code) or response.status_code == 401,
            response=f"HTTP {response.status_code} {response.text[:1000]}",
            address_rejected=bool(codes & FCM_TOKEN_ERRORS),
        )


class CaptureBackend:
    """Keeps every notification in the database (the admin's outbox) and sends nothing."""

    def send(self, *, pkey: str, recipient: Recipient, rendered: RenderedPush) -> str:
        captured = CapturedMessage.objects.create(
            channel="push",
            to=recipient.push_token,
            title=rendered.title,
            body=rendered.body,
            data=fcm_message(pkey=pkey, recipient=recipient, rendered=rendered),
            message_id=idempotency_key_for(pkey),
        )
        return f"captured-{captured.pk}"
