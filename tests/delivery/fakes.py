"""Loopback fakes speaking the providers' HTTP protocols, with their error answers.

- Twilio: POST /2010-04-01/Accounts/{sid}/Messages.json, HTTP basic auth, form-encoded, 201 + JSON.
- Google OAuth 2: POST /token with a service-account JWT (RS256, checked against the public key).
- FCM HTTP v1: POST /v1/projects/{project}/messages:send with the Bearer token, 200 + {"name"}.
"""

import base64
import contextlib
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class FakeProvider:
    """Runs a handler on 127.0.0.1 in a thread. `script` holds the answers to give before the normal
    one, as (status, json body) pairs; `delay` makes every answer late (timeouts)."""

    def __init__(self):
        self.requests = []
        self.script = []
        self.delay = 0.0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if provider.delay:
                    time.sleep(provider.delay)
                status, answer = provider.answer(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may have given up waiting (the timeout tests).
                with contextlib.suppress(BrokenPipeError):
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path, headers, body):
        raise NotImplementedError


class FakeTwilio(FakeProvider):
    account_sid = "AC" + "0" * 32
    auth_token = "twilio-test-token"

    def answer(self, path, headers, body):
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("Authorization") != f"Basic {expected}":
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if self.script:
            return self.script.pop(0)
        if not E164.match(form.get("To", "")) or form["To"].startswith("+1500555000"):
            return 400, {
                "code": 21211,
                "message": f"The 'To' number {form.get('To')} is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            }
        if not form.get("Body"):
            return 400, {"code": 21602, "message": "Message body is required.", "status": 400}
        sid = "SM" + secrets.token_hex(16)
        self.requests.append(form)
        return 201, {
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
        }


class FakeFcm(FakeProvider):
    """Google's token endpoint and FCM's send endpoint on one port."""

    project = "demo-app"

    def __init__(self):
        super().__init__()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.service_account = {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": "key-1",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "client_email": "message-center@demo-app.iam.gserviceaccount.com",
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }
        self.tokens = set()
        self.token_requests = 0
        self.unregistered = set()

    def answer(self, path, headers, body):
        if path == "/token":
            return self.token(body)
        if path != f"/v1/projects/{self.project}/messages:send":
            return 404, _fcm_error(404, "NOT_FOUND", "Requested entity was not found.")
        authorization = headers.get("Authorization", "")
        if authorization.removeprefix("Bearer ") not in self.tokens:
            return 401, _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if self.script:
            return self.script.pop(0)
        message = json.loads(body)["message"]
        if not message.get("token"):
            return 400, _fcm_error(400, "INVALID_ARGUMENT", "Invalid registration token", "INVALID_ARGUMENT")
        if message["token"] in self.unregistered:
            return 404, _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if any(not isinstance(value, str) for value in message.get("data", {}).values()):
            return 400, _fcm_error(400, "INVALID_ARGUMENT", "data values must be strings", "INVALID_ARGUMENT")
        self.requests.append(message)
        return 200, {"name": f"projects/{self.project}/messages/0:{secrets.randbelow(10**15)}"}

    def token(self, body):
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        try:
            # Google expects its own token endpoint as the audience, whatever URL the JWT is posted to.
            claims = jwt.decode(form["assertion"], certs=self.public_pem, audience=GOOGLE_TOKEN_AUDIENCE)
        except (KeyError, ValueError) as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        if "https://www.googleapis.com/auth/firebase.messaging" not in claims.get("scope", "").split():
            return 400, {"error": "invalid_scope"}
        self.token_requests += 1
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}


def _fcm_error(code, status, message, error_code=None):
    error = {"code": code, "message": message, "status": status}
    if error_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
        ]
    return {"error": error}
