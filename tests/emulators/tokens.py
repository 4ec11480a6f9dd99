# tokens: bearer tokens issued by the emulated identity services (Entra ID, Adobe IMS) and their
# validation (missing / unknown / expired), with a configurable lifetime and forced expiry.
import base64
import json
import secrets
import threading
import time
import urllib.parse


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = {}  # token -> (client_id, expires_at monotonic-ish wall time)

    def issue(self, client_id, lifetime, audience=""):
        now = time.time()
        header = b64url(json.dumps({"typ": "JWT", "alg": "RS256"}).encode())
        payload = b64url(json.dumps({"aud": audience, "appid": client_id, "iat": int(now),
                                     "exp": int(now + lifetime), "jti": secrets.token_hex(8)}).encode())
        token = "%s.%s.%s" % (header, payload, b64url(secrets.token_bytes(32)))
        with self.lock:
            self.tokens[token] = (client_id, now + lifetime)
        return token

    def check(self, authorization):
        """-> (state, client_id): state is ok, missing, invalid or expired."""
        if not authorization:
            return "missing", None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing", None
        with self.lock:
            entry = self.tokens.get(token.strip())
        if entry is None:
            return "invalid", None
        if time.time() >= entry[1]:
            return "expired", entry[0]
        return "ok", entry[0]

    def expire_all(self):
        with self.lock:
            self.tokens = {t: (c, 0) for t, (c, _) in self.tokens.items()}

    def clear(self):
        with self.lock:
            self.tokens.clear()


def read_form(req):
    """Client-credentials parameters from a form body, the query string, and HTTP Basic auth."""
    params = dict(req.query)
    ctype = (req.header("Content-Type") or "").lower()
    if req.body and ("x-www-form-urlencoded" in ctype or not ctype):
        try:
            params.update(urllib.parse.parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            pass
    auth = req.header("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            user, _, pw = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            params.setdefault("client_id", urllib.parse.unquote(user))
            params.setdefault("client_secret", urllib.parse.unquote(pw))
        except (ValueError, UnicodeDecodeError):
            pass
    return params
