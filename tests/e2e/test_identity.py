#!/usr/bin/env python3
"""End-to-end tests of the Identity routes of API.md: registration, login,
tokens, profile, addresses, staff login and the manager's customer lookup,
through the edge to the real customer workers and their database.

Needs a live system (scripts/testenv.sh); exits 77 without one. The routes
need the edge's token verification and guards: while GET /api/v1/auth/jwks
answers 404 (the edge does not serve the identity routes yet), every test
prints SKIP: and is not counted, so the suite stays green until then.
Staff credentials come from the demo accounts file that testenv writes
($COMPTOIR_TEST_VAR/demo-accounts.txt: "role login password store_id")."""

import base64
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Skip, Suite, assert_error  # noqa: E402

CUSTOMER_FIELDS = {"id", "email", "first_name", "last_name", "phone", "province",
                   "created_at", "updated_at"}
ADDRESS_FIELDS = {"id", "type", "full_name", "line1", "line2", "city", "province",
                  "postal_code", "country", "is_default", "created_at", "updated_at"}


SUITE = Suite()
test = SUITE.test


_IDENTITY = {}


def needs_identity(edge):
    """Skip unless the edge serves the identity routes (and so verifies tokens)."""
    if "served" not in _IDENTITY:
        response = edge.get("/api/v1/auth/jwks")
        _IDENTITY["served"] = response.status != 404
    if not _IDENTITY["served"]:
        raise Skip("GET /api/v1/auth/jwks answers 404: the edge does not serve the identity routes yet")


def unique_email(tag):
    return "%s.%s@example.com" % (tag, uuid.uuid4().hex[:12])


def bearer(token):
    return {"Authorization": "Bearer " + token}


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def register(edge, email=None, password="correct-horse-9", **extra):
    body = {"email": email or unique_email("e2e"), "password": password,
            "first_name": "Test", "last_name": "Person"}
    body.update(extra)
    response = edge.request("POST", "/api/v1/auth/register", body=body)
    assert response.status == 201, response
    return response.json()


def login(edge, email, password="correct-horse-9"):
    response = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": password})
    assert response.status == 200, response
    return response.json()


def customer_token(edge):
    email = unique_email("token")
    customer = register(edge, email)
    return customer, login(edge, email)["token"]


def demo_account(role, store=None):
    """(login, password) of a demo account written by testenv, or Skip."""
    path = os.path.join(os.environ.get("COMPTOIR_TEST_VAR", "var/test"), "demo-accounts.txt")
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 4 and fields[0] == role and (store is None or fields[3] == str(store)):
                    return fields[1], fields[2]
    except OSError:
        pass
    raise Skip("no %s demo account in %s" % (role, path))


def staff_token(edge, role, store=None):
    username, password = demo_account(role, store)
    response = edge.request("POST", "/api/v1/auth/staff/login",
                            body={"username": username, "password": password})
    assert response.status == 200, response
    return response.json()


def address_body(**overrides):
    body = {"type": "shipping", "full_name": "Marie Tremblay", "line1": "1 rue Sainte-Catherine",
            "city": "Montréal", "province": "QC", "postal_code": "h2x1y4", "is_default": True}
    body.update(overrides)
    return body


# ---- tests -------------------------------------------------------------------

@test
def test_jwks_publishes_ed25519_public_keys(edge):
    needs_identity(edge)
    response = edge.get("/api/v1/auth/jwks")
    assert response.status == 200, response
    keys = response.json()["keys"]
    assert keys, keys
    for key in keys:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519", key
        assert key["alg"] == "EdDSA" and key["use"] == "sig", key
        assert len(base64.urlsafe_b64decode(key["x"] + "=")) == 32, key
        assert "d" not in key, "a private key is published"
        assert key["kid"]


@test
def test_register_then_login_gives_an_eddsa_token_with_the_claims(edge):
    needs_identity(edge)
    email = unique_email("Round.Trip")
    customer = register(edge, email, phone="514-555-0199")
    assert set(customer) == CUSTOMER_FIELDS, customer
    assert customer["province"] == "QC" and customer["email"] == email
    answer = login(edge, email.upper())
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600, answer
    assert answer["customer"]["id"] == customer["id"]
    head, payload, signature = answer["token"].split(".")
    header = b64url_json(head)
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT" and header["kid"], header
    assert header["kid"] in {key["kid"] for key in edge.get("/api/v1/auth/jwks").json()["keys"]}
    claims = b64url_json(payload)
    assert claims["sub"] == str(customer["id"]) and claims["role"] == "customer", claims
    assert claims["iss"] == "comptoir" and claims["aud"] == "comptoir-api", claims
    assert claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 3600, claims
    assert abs(claims["iat"] - time.time()) < 60, claims
    assert len(claims["jti"]) == 32 and "store_id" not in claims, claims
    assert len(base64.urlsafe_b64decode(signature + "==")) == 64
    me = edge.get("/api/v1/customers/me", headers=bearer(answer["token"]))
    assert me.status == 200 and me.json()["id"] == customer["id"], me


@test
def test_wrong_password_and_unknown_email_answer_the_same_401(edge):
    needs_identity(edge)
    email = unique_email("wrong")
    register(edge, email)
    wrong = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": "not-it-at-all"})
    unknown = edge.request("POST", "/api/v1/auth/login",
                           body={"email": unique_email("nobody"), "password": "not-it-at-all"})
    for response in (wrong, unknown):
        assert_error(response, 401, "unauthorized")
        assert response.header("WWW-Authenticate"), response.headers
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)


@test
def test_five_failures_lock_the_email_with_429_and_retry_after(edge):
    needs_identity(edge)
    email = unique_email("lockout")
    register(edge, email)
    for attempt in range(5):
        response = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": "guess-%d" % attempt})
        assert_error(response, 401, "unauthorized")
    response = edge.request("POST", "/api/v1/auth/login", body={"email": email, "password": "correct-horse-9"})
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.header("Retry-After"))
    assert 0 < retry_after <= 900, retry_after


@test
def test_registration_refuses_duplicates_bad_fields_and_mass_assignment(edge):
    needs_identity(edge)
    email = unique_email("Dup")
    register(edge, email)
    again = edge.request("POST", "/api/v1/auth/register",
                         body={"email": email.upper(), "password": "another-pass-1",
                               "first_name": "A", "last_name": "B"})
    assert_error(again, 409, "conflict")
    mass = edge.request("POST", "/api/v1/auth/register",
                        body={"email": unique_email("mass"), "password": "another-pass-1",
                              "first_name": "A", "last_name": "B", "role": "admin", "id": 1})
    error = assert_error(mass, 400, "validation_failed")
    assert {"role", "id"} <= {detail["field"] for detail in error["details"]}, error
    short = edge.request("POST", "/api/v1/auth/register",
                         body={"email": "not-an-email", "password": "short", "first_name": "A"})
    error = assert_error(short, 400, "validation_failed")
    assert {"email", "password", "last_name"} <= {detail["field"] for detail in error["details"]}


@test
def test_profile_needs_a_customer_token_and_only_listed_fields_change(edge):
    needs_identity(edge)
    response = edge.get("/api/v1/customers/me")
    assert_error(response, 401, "unauthorized")
    assert response.header("WWW-Authenticate"), response.headers
    customer, token = customer_token(edge)
    updated = edge.request("PUT", "/api/v1/customers/me", headers=bearer(token),
                           body={"first_name": "Amélie", "province": "on"})
    assert updated.status == 200, updated
    assert updated.json()["first_name"] == "Amélie" and updated.json()["province"] == "ON"
    mass = edge.request("PUT", "/api/v1/customers/me", headers=bearer(token),
                        body={"role": "admin", "email": "x@example.com"})
    error = assert_error(mass, 400, "validation_failed")
    assert {"role", "email"} <= {detail["field"] for detail in error["details"]}
    staff = staff_token(edge, "manager", 1)["token"]
    assert_error(edge.get("/api/v1/customers/me", headers=bearer(staff)), 403, "forbidden")


@test
def test_forged_tokens_are_refused(edge):
    needs_identity(edge)
    _customer, token = customer_token(edge)
    head, payload, signature = token.split(".")
    claims = b64url_json(payload)
    claims["sub"] = "1"
    tampered = "%s.%s.%s" % (head, b64url(json.dumps(claims).encode()), signature)
    none = "%s.%s." % (b64url(b'{"alg":"none","typ":"JWT"}'), payload)
    for forged in (tampered, none, "garbage", token + "x"):
        response = edge.get("/api/v1/customers/me", headers=bearer(forged))
        assert_error(response, 401, "unauthorized")


@test
def test_a_new_default_address_replaces_the_old_one(edge):
    needs_identity(edge)
    _customer, token = customer_token(edge)
    first = edge.request("POST", "/api/v1/customers/me/addresses", headers=bearer(token), body=address_body())
    assert first.status == 201, first
    assert set(first.json()) == ADDRESS_FIELDS, first.json()
    assert first.json()["postal_code"] == "H2X 1Y4" and first.json()["country"] == "CA"
    second = edge.request("POST", "/api/v1/customers/me/addresses", headers=bearer(token),
                          body=address_body(line1="2 rue Peel"))
    assert second.status == 201, second
    listed = edge.get("/api/v1/customers/me/addresses", headers=bearer(token))
    assert listed.status == 200, listed
    defaults = {a["id"]: a["is_default"] for a in listed.json()["data"]}
    assert defaults == {first.json()["id"]: False, second.json()["id"]: True}, defaults
    path = "/api/v1/customers/me/addresses/%d" % first.json()["id"]
    updated = edge.request("PUT", path, headers=bearer(token), body={"is_default": True})
    assert updated.status == 200 and updated.json()["is_default"], updated
    deleted = edge.request("DELETE", path, headers=bearer(token))
    assert deleted.status == 204, deleted


@test
def test_another_customers_address_answers_404(edge):
    needs_identity(edge)
    _a, token_a = customer_token(edge)
    _b, token_b = customer_token(edge)
    address = edge.request("POST", "/api/v1/customers/me/addresses", headers=bearer(token_a), body=address_body())
    assert address.status == 201, address
    path = "/api/v1/customers/me/addresses/%d" % address.json()["id"]
    assert_error(edge.request("PUT", path, headers=bearer(token_b), body={"line1": "stolen"}), 404, "not_found")
    assert_error(edge.request("DELETE", path, headers=bearer(token_b)), 404, "not_found")
    assert edge.get("/api/v1/customers/me/addresses", headers=bearer(token_b)).json()["data"] == []
    mine = edge.get("/api/v1/customers/me/addresses", headers=bearer(token_a)).json()["data"]
    assert [a["line1"] for a in mine] == ["1 rue Sainte-Catherine"], mine


@test
def test_staff_login_carries_role_and_store(edge):
    needs_identity(edge)
    answer = staff_token(edge, "cashier", 2)
    assert answer["staff"]["role"] == "cashier" and answer["staff"]["store_id"] == 2, answer
    assert answer["expires_in"] == 43200, answer
    claims = b64url_json(answer["token"].split(".")[1])
    assert claims["role"] == "cashier" and claims["store_id"] == 2, claims
    assert claims["sub"] == str(answer["staff"]["id"]), claims
    admin = staff_token(edge, "admin")
    assert admin["staff"]["store_id"] is None and "store_id" not in b64url_json(admin["token"].split(".")[1])


@test
def test_the_customer_lookup_is_for_managers_and_admins(edge):
    needs_identity(edge)
    tag = "lookup%s" % uuid.uuid4().hex[:10]
    for _ in range(3):
        register(edge, unique_email(tag))
    manager = staff_token(edge, "manager", 1)["token"]
    page = edge.get("/api/v1/customers?q=%s&per_page=2&page=1" % tag, headers=bearer(manager))
    assert page.status == 200, page
    body = page.json()
    assert body["meta"] == {"page": 1, "per_page": 2, "total": 3}, body["meta"]
    assert len(body["data"]) == 2 and set(body["data"][0]) == CUSTOMER_FIELDS
    one = edge.get("/api/v1/customers/%d" % body["data"][0]["id"], headers=bearer(manager))
    assert one.status == 200 and one.json()["id"] == body["data"][0]["id"], one
    cashier = staff_token(edge, "cashier", 1)["token"]
    assert_error(edge.get("/api/v1/customers?q=%s" % tag, headers=bearer(cashier)), 403, "forbidden")
    _customer, token = customer_token(edge)
    assert_error(edge.get("/api/v1/customers", headers=bearer(token)), 403, "forbidden")
    assert_error(edge.get("/api/v1/customers"), 401, "unauthorized")


if __name__ == "__main__":
    SUITE.run(Edge())
