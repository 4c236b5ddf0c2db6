#!/usr/bin/env python3
"""End-to-end tests of the Cart routes of API.md through the edge, to the
three cart workers, their Redis and the catalog that prices the lines.

Needs a live system (scripts/testenv.sh); exits 77 without one. While
POST /api/v1/carts answers 404 (the edge's route table has no cart routes
yet) every test prints SKIP: and is not counted. The claim test also needs
the identity routes (a customer token) and skips without them. Expected
taxes are computed here with integers only, as the context must: rates per
100,000, rounded half up."""

import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Skip, Suite, assert_error  # noqa: E402

CART_FIELDS = {"id", "customer_id", "province", "items", "item_count", "subtotal_cents", "taxes",
               "tax_cents", "total_cents", "created_at", "updated_at", "expires_at", "served_by"}
LINE_FIELDS = {"product_id", "sku", "name", "unit_price_cents", "quantity", "line_total_cents"}
RATES = {"QC": [("GST", 5000), ("QST", 9975)], "ON": [("HST", 13000)], "AB": [("GST", 5000)]}


SUITE = Suite()
test = SUITE.test


def new_cart(edge, province=None, headers=None):
    response = edge.request("POST", "/api/v1/carts", body={"province": province} if province else {},
                            headers=headers)
    if response.status == 404:
        raise Skip("POST /api/v1/carts answers 404: the edge has no cart routes yet")
    assert response.status == 201, response
    cart = response.json()
    assert response.header("Location") == "/api/v1/carts/" + cart["id"], response.headers
    return cart


def some_products(edge, count=2):
    response = edge.get("/api/v1/products?per_page=%d" % count)
    assert response.status == 200, response
    products = response.json()["data"]
    if len(products) < count:
        raise Skip("the catalog has fewer than %d products" % count)
    return products


def add(edge, cart_id, product_id, quantity, headers=None):
    return edge.request("POST", "/api/v1/carts/%s/items" % cart_id,
                        body={"product_id": product_id, "quantity": quantity}, headers=headers)


def line_of(cart, product_id):
    for line in cart["items"]:
        if line["product_id"] == product_id:
            return line
    return None


def expected_taxes(province, subtotal):
    return [(name, (subtotal * rate + 50000) // 100000) for name, rate in RATES[province]]


# ---- tests -------------------------------------------------------------------

@test
def test_a_new_cart_is_empty_and_readable(edge):
    cart = new_cart(edge)
    assert set(cart) == CART_FIELDS, cart
    assert len(cart["id"]) >= 32 and cart["province"] == "QC", cart
    assert cart["items"] == [] and cart["total_cents"] == 0 and cart["customer_id"] is None, cart
    assert cart["served_by"].startswith("cart-"), cart
    response = edge.get("/api/v1/carts/" + cart["id"])
    assert response.status == 200, response
    assert response.json()["id"] == cart["id"]
    assert_error(edge.get("/api/v1/carts/" + "0" * 32), 404, "not_found")


@test
def test_lines_are_priced_by_the_catalog_and_taxed_by_province(edge):
    first, second = some_products(edge)
    for province in ("QC", "ON", "AB"):
        cart = new_cart(edge, province)
        response = add(edge, cart["id"], first["id"], 2)
        assert response.status == 201, response
        response = add(edge, cart["id"], first["id"], 1)
        assert response.status == 201, response
        response = add(edge, cart["id"], second["id"], 1)
        body = response.json()
        line = line_of(body, first["id"])
        assert set(line) == LINE_FIELDS, line
        assert line["quantity"] == 3 and line["unit_price_cents"] == first["price_cents"], line
        assert line["sku"] == first["sku"] and line["name"] == first["name"], line
        subtotal = 3 * first["price_cents"] + second["price_cents"]
        assert body["subtotal_cents"] == subtotal, body
        taxes = [(tax["name"], tax["amount_cents"]) for tax in body["taxes"]]
        assert taxes == expected_taxes(province, subtotal), (province, taxes)
        assert body["total_cents"] == subtotal + sum(amount for _, amount in taxes), body
        assert all(isinstance(tax["rate"], str) for tax in body["taxes"]), body


@test
def test_set_remove_and_delete(edge):
    (product,) = some_products(edge, 1)
    cart = new_cart(edge)
    add(edge, cart["id"], product["id"], 2)
    path = "/api/v1/carts/%s/items/%d" % (cart["id"], product["id"])
    response = edge.request("PUT", path, body={"quantity": 5})
    assert response.status == 200 and line_of(response.json(), product["id"])["quantity"] == 5, response
    response = edge.request("PUT", path, body={"quantity": 0})
    assert response.status == 200 and response.json()["items"] == [], response
    assert_error(edge.request("DELETE", path), 404, "not_found")
    response = edge.request("DELETE", "/api/v1/carts/" + cart["id"])
    assert response.status == 204, response
    assert_error(edge.get("/api/v1/carts/" + cart["id"]), 404, "not_found")


@test
def test_bad_input_and_unknown_products(edge):
    (product,) = some_products(edge, 1)
    cart = new_cart(edge)
    for body in ({"product_id": product["id"], "quantity": 0},
                 {"product_id": product["id"], "quantity": 1000},
                 {"product_id": product["id"], "quantity": "2"},
                 {"product_id": product["id"], "quantity": 1, "unit_price_cents": 1}):
        response = edge.request("POST", "/api/v1/carts/%s/items" % cart["id"], body=body)
        assert_error(response, 400, "validation_failed")
    assert_error(add(edge, cart["id"], 987654321, 1), 404, "not_found")
    assert_error(edge.request("POST", "/api/v1/carts", body={"province": "XX"}), 400, "validation_failed")


@test
def test_the_same_request_id_applies_once(edge):
    (product,) = some_products(edge, 1)
    cart = new_cart(edge)
    headers = {"X-Request-ID": str(uuid.uuid4())}
    for _ in range(2):
        response = add(edge, cart["id"], product["id"], 2, headers=headers)
        assert response.status == 201, response
        assert line_of(response.json(), product["id"])["quantity"] == 2, response
    response = edge.get("/api/v1/carts/" + cart["id"])
    assert line_of(response.json(), product["id"])["quantity"] == 2, response


@test
def test_three_workers_answer(edge):
    cart = new_cart(edge)
    seen = set()
    for _ in range(30):
        response = edge.get("/api/v1/carts/" + cart["id"])
        assert response.status == 200, response
        seen.add(response.json()["served_by"])
    assert len(seen) >= 3, seen


def customer_token(edge):
    if edge.get("/api/v1/auth/jwks").status == 404:
        raise Skip("the edge does not serve the identity routes yet")
    email = "cart.%s@example.com" % uuid.uuid4().hex[:12]
    response = edge.request("POST", "/api/v1/auth/register",
                            body={"email": email, "password": "correct-horse-9",
                                  "first_name": "Cart", "last_name": "Test"})
    assert response.status == 201, response
    response = edge.request("POST", "/api/v1/auth/login",
                            body={"email": email, "password": "correct-horse-9"})
    assert response.status == 200, response
    return {"Authorization": "Bearer " + response.json()["token"]}


@test
def test_claim_merges_and_locks_the_cart(edge):
    first, second = some_products(edge)
    alice, bob = customer_token(edge), customer_token(edge)
    mine = new_cart(edge, headers=alice)
    add(edge, mine["id"], first["id"], 1, headers=alice)
    guest = new_cart(edge)
    add(edge, guest["id"], first["id"], 2)
    add(edge, guest["id"], second["id"], 1)
    assert_error(edge.request("POST", "/api/v1/carts/%s/claim" % guest["id"]), 401, "unauthorized")
    response = edge.request("POST", "/api/v1/carts/%s/claim" % guest["id"], headers=alice)
    assert response.status == 200, response
    claimed = response.json()
    assert claimed["id"] == mine["id"] and claimed["customer_id"], claimed
    assert line_of(claimed, first["id"])["quantity"] == 3, claimed
    assert line_of(claimed, second["id"])["quantity"] == 1, claimed
    assert edge.get("/api/v1/carts/" + mine["id"], headers=alice).status == 200
    assert_error(edge.get("/api/v1/carts/" + mine["id"]), 404, "not_found")
    assert_error(edge.get("/api/v1/carts/" + mine["id"], headers=bob), 404, "not_found")
    assert_error(edge.get("/api/v1/carts/" + guest["id"]), 404, "not_found")


if __name__ == "__main__":
    SUITE.run(Edge())
