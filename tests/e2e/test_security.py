#!/usr/bin/env python3
"""End-to-end tests of the edge's security, through a live system
(scripts/testenv.sh; exits 77 without one):

- every forged token is refused with 401 and WWW-Authenticate: tokens
  signed by a key this test makes (Ed25519 through libsodium, which the
  project depends on anyway), real tokens from login altered, and tokens
  with bad claims signed by the test environment's own signing key (read
  from $COMPTOIR_TEST_VAR/keys/jwt: this is the test system's key, which
  proves that the claims, not only the signature, are checked);
- key rotation: a token of a rotated-out key still works, a removed key's
  token does not (after the edge's next refresh of the key set);
- the role matrix: every route of etc/routes.cfg called with no token, a
  customer's and each staff role's token, against API.md's roles table;
- ownership, mass assignment, exact rate limits under 1,000 concurrent
  requests, CORS preflights, and the size limits (each with its 4xx).

Staff credentials come from $COMPTOIR_TEST_VAR/demo-accounts.txt
("role login password store_id"), written by the test environment."""

import base64
import concurrent.futures
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Response, Skip, Suite, assert_error  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ISSUER = "comptoir"
AUDIENCE = "comptoir-api"
WWW_INVALID = 'Bearer realm="comptoir", error="invalid_token"'


SUITE = Suite()
test = SUITE.test


# ---- Ed25519 through libsodium (no Python package needed) -----------------

_SODIUM = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
assert _SODIUM.sodium_init() >= 0


def ed25519_keypair():
    pk = ctypes.create_string_buffer(32)
    sk = ctypes.create_string_buffer(64)
    assert _SODIUM.crypto_sign_keypair(pk, sk) == 0
    return pk.raw, sk.raw


def ed25519_sign(sk, message):
    signature = ctypes.create_string_buffer(64)
    assert _SODIUM.crypto_sign_detached(signature, None, message,
                                        ctypes.c_ulonglong(len(message)), sk) == 0
    return signature.raw


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value):
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(header, claims, sk):
    signing_input = "%s.%s" % (b64url_json(header), b64url_json(claims))
    return "%s.%s" % (signing_input, b64url(ed25519_sign(sk, signing_input.encode("ascii"))))


def claims_for(sub="1", role="customer", ttl=3600, **extra):
    now = int(time.time())
    claims = {"sub": str(sub), "role": role, "iat": now, "nbf": now, "exp": now + ttl,
              "iss": ISSUER, "aud": AUDIENCE, "jti": uuid.uuid4().hex}
    claims.update(extra)
    return claims


# ---- the test system -------------------------------------------------------

def keys_dir():
    return os.path.join(os.environ.get("COMPTOIR_TEST_VAR", os.path.join(ROOT, "var/test")),
                        "keys", "jwt")


def signing_key():
    """(kid, secret key) of the test system's newest signing key."""
    folder = keys_dir()
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".secret")]
    except OSError:
        raise Skip("no readable key folder %s" % folder)
    if not names:
        raise Skip("no signing key in %s" % folder)
    newest = max(names, key=lambda n: os.stat(os.path.join(folder, n)).st_mtime_ns)
    with open(os.path.join(folder, newest), encoding="ascii") as handle:
        secret = bytes.fromhex(handle.read().strip())
    return newest[:-len(".secret")], secret


def needs_identity(edge):
    if edge.get("/api/v1/auth/jwks").status == 404:
        raise Skip("the edge does not serve the identity routes")


def demo_account(role, store=None):
    path = os.path.join(os.environ.get("COMPTOIR_TEST_VAR", os.path.join(ROOT, "var/test")),
                        "demo-accounts.txt")
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 4 and fields[0] == role and (store is None or fields[3] == str(store)):
                    return fields[1], fields[2]
    except OSError:
        pass
    raise Skip("no %s demo account in %s" % (role, path))


_TOKENS = {}


def staff_token(edge, role, store=None):
    key = (role, store)
    if key not in _TOKENS:
        username, password = demo_account(role, store)
        response = edge.request("POST", "/api/v1/auth/staff/login",
                                body={"username": username, "password": password})
        assert response.status == 200, response
        _TOKENS[key] = response.json()["token"]
    return _TOKENS[key]


def new_customer(edge):
    """(customer, token) of a new customer."""
    email = "sec.%s@example.com" % uuid.uuid4().hex[:12]
    response = edge.request("POST", "/api/v1/auth/register",
                            body={"email": email, "password": "correct-horse-9",
                                  "first_name": "Sec", "last_name": "Urity"})
    assert response.status == 201, response
    customer = response.json()
    response = edge.request("POST", "/api/v1/auth/login",
                            body={"email": email, "password": "correct-horse-9"})
    assert response.status == 200, response
    return customer, response.json()["token"]


def bearer(token):
    return {"Authorization": "Bearer " + token}


def assert_token_refused(response, what):
    assert response.status == 401, (what, response)
    assert_error(response, 401, "unauthorized")
    challenge = response.header("WWW-Authenticate") or ""
    assert challenge.startswith(WWW_INVALID), (what, challenge)


# ---- forged tokens ----------------------------------------------------------

@test
def test_a_real_token_signed_here_with_the_system_key_is_accepted(edge):
    #  The control for the claim tests below: the test's signing code makes
    #  tokens the edge accepts, so their refusals are for the claims alone.
    needs_identity(edge)
    customer, _token = new_customer(edge)
    kid, secret = signing_key()
    token = sign_token({"alg": "EdDSA", "typ": "JWT", "kid": kid}, claims_for(customer["id"]), secret)
    response = edge.get("/api/v1/customers/me", headers=bearer(token))
    assert response.status == 200 and response.json()["id"] == customer["id"], response


@test
def test_every_forged_token_answers_401_with_www_authenticate(edge):
    needs_identity(edge)
    customer, real = new_customer(edge)
    kid, secret = signing_key()
    own_pk, own_sk = ed25519_keypair()
    head, payload, signature = real.split(".")
    claims = json.loads(unb64url(payload))
    jwks = edge.get("/api/v1/auth/jwks").json()["keys"]
    public_key = unb64url(jwks[0]["x"])
    header = {"alg": "EdDSA", "typ": "JWT", "kid": kid}
    good = claims_for(customer["id"])
    now = int(time.time())

    def hs256(secret_bytes):
        signing_input = "%s.%s" % (b64url_json({"alg": "HS256", "typ": "JWT", "kid": kid}),
                                   b64url_json(dict(good, role="admin")))
        mac = hmac.new(secret_bytes, signing_input.encode("ascii"), hashlib.sha256).digest()
        return "%s.%s" % (signing_input, b64url(mac))

    def signed_raw(payload_text):
        signing_input = "%s.%s" % (b64url_json(header), b64url(payload_text.encode("utf-8")))
        return "%s.%s" % (signing_input, b64url(ed25519_sign(secret, signing_input.encode("ascii"))))

    def with_claims(**changes):
        changed = dict(good)
        for name, value in changes.items():
            if value is None:
                changed.pop(name, None)
            else:
                changed[name] = value
        return sign_token(header, changed, secret)

    forged = {
        "alg none, no signature": "%s.%s." % (b64url_json({"alg": "none", "typ": "JWT"}), payload),
        "alg none, real signature": "%s.%s.%s" % (b64url_json({"alg": "none", "kid": kid}), payload, signature),
        "HS256 with the public key as secret": hs256(public_key),
        "HS256 with the JWK text as secret": hs256(jwks[0]["x"].encode("ascii")),
        "RS256": "%s.%s.%s" % (b64url_json({"alg": "RS256", "kid": kid}), payload, signature),
        "ES256": "%s.%s.%s" % (b64url_json({"alg": "ES256", "kid": kid}), payload, signature),
        "no alg": "%s.%s.%s" % (b64url_json({"kid": kid}), payload, signature),
        "signed by another key under the real kid": sign_token(header, good, own_sk),
        "unknown kid": sign_token({"alg": "EdDSA", "kid": "forged-kid"}, good, own_sk),
        "no kid": sign_token({"alg": "EdDSA"}, good, own_sk),
        "payload changed after signing": "%s.%s.%s" % (head, b64url_json(dict(claims, role="admin")), signature),
        "sub changed after signing": "%s.%s.%s" % (head, b64url_json(dict(claims, sub="1")), signature),
        "signature cut": real[:-6],
        "signature of another token": "%s.%s.%s" % (head, payload, new_customer(edge)[1].split(".")[2]),
        "malformed base64url": "%s.%s.%s" % (head, payload[:-1] + "*", signature),
        "padding added": "%s.%s.%s==" % (head, payload, signature),
        "two parts": "%s.%s" % (head, payload),
        "four parts": "%s.%s.%s.x" % (head, payload, signature),
        "not JSON": "%s.%s.%s" % (b64url(b"not json"), payload, signature),
        "garbage": "garbage",
        "empty": "",
        "exp past": with_claims(exp=now - 5),
        "exp missing": with_claims(exp=None),
        "exp not a number": with_claims(exp="tomorrow"),
        "nbf ahead beyond the leeway": with_claims(nbf=now + 300),
        "iat ahead beyond the leeway": with_claims(iat=now + 300),
        "wrong iss": with_claims(iss="someone-else"),
        "no iss": with_claims(iss=None),
        "wrong aud": with_claims(aud="another-api"),
        "no aud": with_claims(aud=None),
        "unknown role": with_claims(role="superuser"),
        "no sub": with_claims(sub=None),
        "duplicate claim": signed_raw('{"sub":"%s","role":"customer","role":"admin","exp":%d,'
                                      '"iss":"%s","aud":"%s"}' % (customer["id"], now + 60, ISSUER, AUDIENCE)),
    }
    for what, token in forged.items():
        response = edge.get("/api/v1/customers/me", headers=bearer(token))
        assert_token_refused(response, what)
    #  The same on an open route (a present bad token is refused there
    #  too) and on a cached one
    for path in ("/api/v1/categories", "/api/v1/products?per_page=1"):
        for what in ("alg none, no signature", "HS256 with the public key as secret", "exp past"):
            assert_token_refused(edge.get(path, headers=bearer(forged[what])), what + " on " + path)
    #  Not a bearer token at all
    response = edge.get("/api/v1/customers/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_token_refused(response, "Basic")
    #  The leeway: nbf 30 s ahead is still accepted; exp says why it failed
    response = edge.get("/api/v1/customers/me", headers=bearer(with_claims(nbf=now + 30)))
    assert response.status == 200, response
    response = edge.get("/api/v1/customers/me", headers=bearer(forged["exp past"]))
    assert "expired" in response.header("WWW-Authenticate"), response.headers


@test
def test_a_rotated_out_key_still_verifies_and_a_removed_key_does_not(edge):
    needs_identity(edge)
    config = os.environ.get("COMPTOIR_TEST_CONFIG")
    binary = os.path.join(ROOT, "actors/customer/comptoir-customer")
    if not config or not os.access(binary, os.X_OK):
        raise Skip("no test configuration or customer binary")
    customer, old_token = new_customer(edge)
    old_kid = json.loads(unb64url(old_token.split(".")[0]))["kid"]
    before = {k["kid"] for k in edge.get("/api/v1/auth/jwks").json()["keys"]}
    assert old_kid in before
    subprocess.run([binary, "--config", config, "--rotate-key"], cwd=ROOT, check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    #  The new key signs at once; the edge learns it from the first token
    #  that names it (an unknown kid fetches the key set again)
    email = "rot.%s@example.com" % uuid.uuid4().hex[:12]
    assert edge.request("POST", "/api/v1/auth/register",
                        body={"email": email, "password": "correct-horse-9",
                              "first_name": "R", "last_name": "K"}).status == 201
    deadline = time.monotonic() + 10
    while True:
        login = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": "correct-horse-9"})
        assert login.status == 200, login
        new_token = login.json()["token"]
        new_kid = json.loads(unb64url(new_token.split(".")[0]))["kid"]
        if new_kid != old_kid or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert new_kid != old_kid, "the rotated key does not sign"
    assert edge.get("/api/v1/customers/me", headers=bearer(new_token)).status == 200
    #  The old key is still published: its tokens still work
    me = edge.get("/api/v1/customers/me", headers=bearer(old_token))
    assert me.status == 200 and me.json()["id"] == customer["id"], me
    #  Removed from the folder: gone from the key set, and refused by the
    #  edge after its next refresh (edge/jwks_refresh_s, 2 s in the test env)
    for suffix in (".pub", ".secret"):
        os.remove(os.path.join(keys_dir(), old_kid + suffix))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = edge.get("/api/v1/customers/me", headers=bearer(old_token))
        if response.status == 401:
            break
        time.sleep(0.25)
    assert_token_refused(response, "token of a removed key")
    assert old_kid not in {k["kid"] for k in edge.get("/api/v1/auth/jwks").json()["keys"]}
    assert edge.get("/api/v1/customers/me", headers=bearer(new_token)).status == 200


# ---- the role matrix ---------------------------------------------------------

#  API.md's roles table, route by route (method, pattern) -> roles allowed.
#  "any" is a valid API key alone. Routes of other contexts are listed as
#  API.md groups them, so that a route added to routes.cfg is checked as
#  soon as it is served.
ANY = "any"
CUSTOMER = {"customer"}
STAFF = {"cashier", "manager", "admin"}
MANAGERS = {"manager", "admin"}
ADMIN = {"admin"}
EXPECTED_ROLES = {
    #  catalog reads: any; catalog writes: manager, admin
    ("GET", "/api/v1/categories"): ANY,
    ("POST", "/api/v1/categories"): MANAGERS,
    ("PUT", "/api/v1/categories/{id}"): MANAGERS,
    ("DELETE", "/api/v1/categories/{id}"): MANAGERS,
    ("GET", "/api/v1/products"): ANY,
    ("GET", "/api/v1/products/{id}"): ANY,
    ("GET", "/api/v1/products/sku/{sku}"): ANY,
    ("GET", "/api/v1/products/barcode/{code}"): ANY,
    ("POST", "/api/v1/products"): MANAGERS,
    ("PUT", "/api/v1/products/{id}"): MANAGERS,
    ("DELETE", "/api/v1/products/{id}"): MANAGERS,
    #  auth/*: any
    ("POST", "/api/v1/auth/register"): ANY,
    ("POST", "/api/v1/auth/login"): ANY,
    ("POST", "/api/v1/auth/staff/login"): ANY,
    ("GET", "/api/v1/auth/jwks"): ANY,
    #  customers/me...: customer token; customer lookup: manager, admin
    ("GET", "/api/v1/customers/me"): CUSTOMER,
    ("PUT", "/api/v1/customers/me"): CUSTOMER,
    ("GET", "/api/v1/customers/me/addresses"): CUSTOMER,
    ("POST", "/api/v1/customers/me/addresses"): CUSTOMER,
    ("GET", "/api/v1/customers/me/addresses/{id}"): CUSTOMER,
    ("PUT", "/api/v1/customers/me/addresses/{id}"): CUSTOMER,
    ("DELETE", "/api/v1/customers/me/addresses/{id}"): CUSTOMER,
    ("GET", "/api/v1/customers"): MANAGERS,
    ("GET", "/api/v1/customers/{id}"): MANAGERS,
    #  carts: any; checkout and own orders: customer
    ("POST", "/api/v1/carts"): ANY,
    ("GET", "/api/v1/carts/{id}"): ANY,
    ("POST", "/api/v1/carts/{id}/items"): ANY,
    ("PUT", "/api/v1/carts/{id}/items/{product_id}"): ANY,
    ("DELETE", "/api/v1/carts/{id}/items/{product_id}"): ANY,
    ("DELETE", "/api/v1/carts/{id}"): ANY,
    ("POST", "/api/v1/carts/{id}/claim"): CUSTOMER,
    ("POST", "/api/v1/checkout"): CUSTOMER,
    #  locations: read by any consumer (stores are public places; their
    #  management, with staff accounts, is the admin's)
    ("GET", "/api/v1/locations"): ANY,
    #  inventory reads and adjustments: staff; transfers: manager, admin
    ("GET", "/api/v1/inventory"): STAFF,
    ("GET", "/api/v1/inventory/{product_id}"): STAFF,
    ("POST", "/api/v1/inventory/adjustments"): STAFF,
    ("GET", "/api/v1/inventory/movements"): STAFF,
    ("GET", "/api/v1/inventory/alerts"): STAFF,
    ("POST", "/api/v1/inventory/transfers"): MANAGERS,
    ("GET", "/api/v1/inventory/transfers"): MANAGERS,
    ("POST", "/api/v1/inventory/transfers/{id}/approve"): MANAGERS,
    ("POST", "/api/v1/inventory/transfers/{id}/deliver"): MANAGERS,
    ("POST", "/api/v1/inventory/transfers/{id}/cancel"): MANAGERS,
    ("GET", "/api/v1/inventory/transfers/{id}"): MANAGERS,
    #  order status: manager, admin; POS sales: staff; reports: manager, admin
    ("GET", "/api/v1/orders"): {"customer", "manager", "admin"},
    ("GET", "/api/v1/orders/{id}"): {"customer", "manager", "admin"},
    ("POST", "/api/v1/orders/{id}/cancel"): {"customer", "manager", "admin"},
    ("PUT", "/api/v1/orders/{id}/status"): MANAGERS,
    ("POST", "/api/v1/sales"): STAFF,
    ("GET", "/api/v1/sales"): STAFF,
    ("GET", "/api/v1/sales/{id}"): STAFF,
    ("GET", "/api/v1/sales/{id}/receipt"): STAFF,
    ("POST", "/api/v1/sales/{id}/returns"): STAFF,
    ("GET", "/api/v1/sales/summary/daily"): STAFF,
    ("GET", "/api/v1/registers"): STAFF,
    ("POST", "/api/v1/registers/{id}/open"): STAFF,
    ("POST", "/api/v1/registers/{id}/close"): STAFF,
    ("GET", "/api/v1/reports/dashboard"): MANAGERS,
    ("GET", "/api/v1/reports/sales"): MANAGERS,
    ("GET", "/api/v1/reports/inventory"): MANAGERS,
}


def routes_of_table():
    """[(method, path)] of the route table the test system serves."""
    path = os.path.join(ROOT, "etc/routes.cfg")
    routes, current = [], {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line[0].isspace():
                if current:
                    routes.append(current)
                current = {}
                continue
            match = re.match(r'^\s+(\w+)\s*=\s*"?([^"#]*?)"?\s*(#.*)?$', line)
            if match:
                current[match.group(1)] = match.group(2)
    if current:
        routes.append(current)
    return [(r["method"], r["path"]) for r in routes]


def concrete(pattern):
    return re.sub(r"\{(\w+)\}", lambda m: "NO-SUCH-SKU" if m.group(1) == "sku" else "999999999", pattern)


@test
def test_role_matrix_every_route_against_the_roles_table(edge):
    needs_identity(edge)
    _customer, customer_token = new_customer(edge)
    callers = {"nobody": None, "customer": customer_token}
    for role, store in (("cashier", 1), ("manager", 1), ("admin", None)):
        callers[role] = staff_token(edge, role, store)
    table = routes_of_table()
    missing = [route for route in table if route not in EXPECTED_ROLES]
    assert not missing, "routes served but not in API.md's table of this test: %r" % missing
    problems = []
    checked = 0
    for method, pattern in table:
        allowed = EXPECTED_ROLES[(method, pattern)]
        path = concrete(pattern)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        for caller, token in callers.items():
            response = edge.request(method, path, body=body, headers=bearer(token) if token else {})
            checked += 1
            if allowed == ANY or (caller != "nobody" and caller in allowed):
                ok = response.status not in (401, 403)
                want = "allowed"
            elif caller == "nobody":
                ok = response.status == 401 and (response.header("WWW-Authenticate") or "").startswith("Bearer")
                want = "401 with a Bearer challenge"
            else:
                ok = response.status == 403 and response.json()["error"]["code"] == "forbidden"
                want = "403 forbidden"
            if not ok:
                problems.append("%s %s as %s: %d, expected %s" % (method, pattern, caller,
                                                                   response.status, want))
    assert not problems, "\n".join(problems)
    assert checked == len(table) * len(callers)


# ---- ownership and mass assignment ------------------------------------------

@test
def test_one_customer_never_reaches_another_customers_data(edge):
    needs_identity(edge)
    customer_a, token_a = new_customer(edge)
    customer_b, token_b = new_customer(edge)
    address = edge.request("POST", "/api/v1/customers/me/addresses", headers=bearer(token_a),
                           body={"type": "billing", "full_name": "A", "line1": "1 rue A",
                                 "city": "Laval", "province": "QC", "postal_code": "H7N 1A1",
                                 "is_default": True})
    assert address.status == 201, address
    path = "/api/v1/customers/me/addresses/%d" % address.json()["id"]
    assert edge.get(path, headers=bearer(token_a)).status == 200
    assert_error(edge.get(path, headers=bearer(token_b)), 404, "not_found")
    assert_error(edge.request("PUT", path, headers=bearer(token_b), body={"city": "Stolen"}), 404, "not_found")
    assert_error(edge.request("DELETE", path, headers=bearer(token_b)), 404, "not_found")
    assert edge.get(path, headers=bearer(token_a)).json()["city"] == "Laval"
    #  /customers/me is always the caller; /customers/{id} is for managers
    assert edge.get("/api/v1/customers/me", headers=bearer(token_b)).json()["id"] == customer_b["id"]
    assert_error(edge.get("/api/v1/customers/%d" % customer_a["id"], headers=bearer(token_b)),
                 403, "forbidden")
    #  A token naming A (sub) that B's client made up is not A's: refused
    forged = token_b.split(".")
    claims = json.loads(unb64url(forged[1]))
    claims["sub"] = str(customer_a["id"])
    assert_token_refused(edge.get("/api/v1/customers/me", headers=bearer(
        "%s.%s.%s" % (forged[0], b64url_json(claims), forged[2]))), "sub swapped")


@test
def test_mass_assignment_of_role_or_id_is_refused(edge):
    needs_identity(edge)
    _customer, token = new_customer(edge)
    attempts = (
        ("POST", "/api/v1/auth/register", None,
         {"email": "mass.%s@example.com" % uuid.uuid4().hex[:10], "password": "correct-horse-9",
          "first_name": "M", "last_name": "A", "role": "admin", "id": 1}, {"role", "id"}),
        ("PUT", "/api/v1/customers/me", token, {"role": "admin"}, {"role"}),
        ("PUT", "/api/v1/customers/me", token, {"id": 1, "created_at": "2020-01-01T00:00:00Z"},
         {"id", "created_at"}),
        ("POST", "/api/v1/customers/me/addresses", token,
         {"type": "shipping", "full_name": "M", "line1": "1 rue M", "city": "Laval", "province": "QC",
          "postal_code": "H7N 1A1", "customer_id": 1}, {"customer_id"}),
    )
    for method, path, bearer_token, body, fields in attempts:
        response = edge.request(method, path, body=body, headers=bearer(bearer_token) if bearer_token else {})
        error = assert_error(response, 400, "validation_failed")
        assert fields <= {detail["field"] for detail in error["details"]}, (path, error)


# ---- rate limits ------------------------------------------------------------

def _rate_headers(response):
    return {name: response.header(name) for name in (
        "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
        "X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute", "Retry-After")}


@test
def test_rate_limit_is_exact_under_1000_concurrent_requests(edge):
    key = os.environ.get("COMPTOIR_TEST_RATE_KEY")
    if not key:
        raise Skip("COMPTOIR_TEST_RATE_KEY is not set (the test env's rate-limited consumer)")
    path = "/api/v1/categories"
    #  The consumer may have been used less than a minute ago (a rerun):
    #  wait for its window to close, so that this test owns a fresh one.
    probe = edge.get(path, key=key)
    if probe.status == 429 or probe.header("X-RateLimit-Remaining-Minute") != "99":
        time.sleep(int(probe.header("RateLimit-Reset") or probe.header("Retry-After") or 60) + 1)
        probe = edge.get(path, key=key)
    assert probe.status == 200, probe
    assert probe.header("X-RateLimit-Limit-Minute") == "100", probe.headers
    assert probe.header("X-RateLimit-Remaining-Minute") == "99", probe.headers
    assert probe.header("RateLimit-Limit") == "100" and probe.header("RateLimit-Remaining") == "99"
    assert 1 <= int(probe.header("RateLimit-Reset")) <= 60

    threads, per_thread = 111, 9            #  999 more: 1,000 with the probe
    barrier = threading.Barrier(threads)
    results = []
    lock = threading.Lock()

    def worker(number):
        connection = Edge.connect(edge.edge)
        mine = []
        try:
            connection.connect()
            barrier.wait(timeout=30)
            for _ in range(per_thread):
                mine.append(edge.request("GET", path, key=key, connection=connection))
        finally:
            connection.close()
        with lock:
            results.extend(mine)

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker, n) for n in range(threads)]:
            future.result(timeout=120)
    statuses = [r.status for r in results]
    assert len(results) == threads * per_thread == 999
    assert statuses.count(200) == 99, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) == 900, {s: statuses.count(s) for s in set(statuses)}
    for response in results:
        headers = _rate_headers(response)
        assert headers["X-RateLimit-Limit-Minute"] == "100" and headers["RateLimit-Limit"] == "100", headers
        if response.status == 429:
            assert_error(response, 429, "rate_limited")
            assert headers["RateLimit-Remaining"] == "0" and headers["X-RateLimit-Remaining-Minute"] == "0"
            assert 1 <= int(headers["Retry-After"]) <= 60, headers
    remaining = sorted(int(r.header("RateLimit-Remaining")) for r in results if r.status == 200)
    assert remaining == list(range(99)), remaining     # each count given once
    #  Another consumer is not affected
    assert edge.get(path).status == 200


# ---- CORS ---------------------------------------------------------------------

ALLOWED_ORIGIN = "https://shop.example.test"


@test
def test_cors_preflight_allowed_for_the_configured_origin(edge):
    response = edge.request("OPTIONS", "/api/v1/products", key=False,
                            headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "content-type, x-api-key, authorization"})
    assert response.status == 204, response
    assert response.header("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, response.headers
    assert "POST" in response.header("Access-Control-Allow-Methods")
    assert "X-API-Key" in response.header("Access-Control-Allow-Headers")
    assert "Authorization" in response.header("Access-Control-Allow-Headers")
    assert int(response.header("Access-Control-Max-Age")) > 0
    assert "Origin" in response.header("Vary")
    #  A normal answer to that origin says so and exposes our headers
    response = edge.get("/api/v1/categories", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    exposed = response.header("Access-Control-Expose-Headers")
    for name in ("X-Request-ID", "RateLimit-Remaining", "Retry-After"):
        assert name in exposed, exposed


@test
def test_cors_preflight_refused_without_cors_headers(edge):
    for headers in ({"Origin": "https://evil.example.test", "Access-Control-Request-Method": "GET"},
                    {"Origin": "https://shop.example.test.evil.test", "Access-Control-Request-Method": "GET"},
                    {"Origin": "null", "Access-Control-Request-Method": "GET"},
                    {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "TRACE"},
                    {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "x-secret-header"}):
        response = edge.request("OPTIONS", "/api/v1/products", key=False, headers=headers)
        assert_error(response, 403, "forbidden")
        assert not [h for h in response.headers if h.startswith("access-control-")], response.headers
    response = edge.get("/api/v1/categories", headers={"Origin": "https://evil.example.test"})
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") is None, response.headers


# ---- size limits ----------------------------------------------------------------

def _raw(edge, data, read_limit=65536):
    url = urllib.parse.urlsplit(edge.edge)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        answer = sock.makefile("rb")
        status_line = answer.readline().decode("latin-1")
        if not status_line:
            return Response(0, [], b"")     # closed without an answer
        headers = []
        for line in iter(answer.readline, b"\r\n"):
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        length = int(dict((k.lower(), v) for k, v in headers).get("content-length", "0"))
        body = answer.read(min(length, read_limit))
    return Response(int(status_line.split()[1]), headers, body)


@test
def test_limits_answer_their_4xx_and_never_crash(edge):
    #  URL length: 414 with the error body
    assert_error(edge.get("/api/v1/products?q=" + "a" * 3000), 414, "uri_too_long")
    #  Header count and size: 431 with the error body
    many = {"X-Extra-%d" % i: "v" for i in range(80)}
    assert_error(edge.get("/api/v1/products", headers=many), 431, "header_fields_too_large")
    assert_error(edge.get("/api/v1/products", headers={"X-Big": "b" * 9000}), 431,
                 "header_fields_too_large")
    #  Past libmicrohttpd's own pool (edge/header_limit): its 431 or 414, no crash
    key_line = "X-API-Key: %s\r\n" % edge.key
    huge = ("GET /api/v1/products HTTP/1.1\r\nHost: t\r\n%sX-Huge: %s\r\nConnection: close\r\n\r\n"
            % (key_line, "h" * 40000)).encode()
    assert _raw(edge, huge).status in (0, 413, 414, 431)
    #  A route's own body limit (login: 4 KiB) before the global one
    response = edge.request("POST", "/api/v1/auth/login",
                            body={"email": "a@example.com", "password": "p" * 5000})
    assert_error(response, 413, "payload_too_large")
    #  JSON nested too deep
    deep = '{"email": ' + "[" * 64 + "]" * 64 + "}"
    response = edge.request("POST", "/api/v1/auth/login", body=deep,
                            headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    #  Page size over 100: 400 from the contexts
    error = assert_error(edge.get("/api/v1/products?per_page=101"), 400, "validation_failed")
    assert "per_page" in {d["field"] for d in error["details"]}, error
    try:
        manager = staff_token(edge, "manager", 1)
        error = assert_error(edge.get("/api/v1/customers?per_page=101", headers=bearer(manager)),
                             400, "validation_failed")
        assert "per_page" in {d["field"] for d in error["details"]}, error
    except Skip:
        pass
    #  A token longer than any we issue
    assert_token_refused(edge.get("/api/v1/products", headers=bearer("a" * 5000 + ".b.c")), "long token")
    #  Still serving
    assert edge.get("/health", key=False).status == 200


if __name__ == "__main__":
    SUITE.run(Edge())
