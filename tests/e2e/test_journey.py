#!/usr/bin/env python3
"""The customer's journey of issue 4, end to end through the edge.

Register, log in, browse, fill a cart, read its QC taxes, check out with an
Idempotency-Key, replay the same checkout, see the order as its owner only,
cancel it, and watch the stock at the web location go down and come back.
Staff tokens come from the demo accounts the test environment made
($COMPTOIR_TEST_VAR/demo-accounts.txt: role login password store_id).
"""

import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Suite, assert_error, new_customer, staff_headers  # noqa: E402

SUITE = Suite()


def customer(edge):
    return new_customer(edge, "journey")[1]


def manager(edge):
    return staff_headers(edge, "admin")


def web_stock(edge, staff, product_id):
    locations = edge.get("/api/v1/locations").json()["data"]
    web = [location["id"] for location in locations if location["type"] == "web"][0]
    rows = edge.get("/api/v1/inventory/%d" % product_id, headers=staff).json()["data"]
    #  A product made by another suite may have no stock row at all
    row = next((row for row in rows if row["location_id"] == web),
               {"on_hand": 0, "reserved": 0, "available": 0})
    return row["on_hand"], row["reserved"], row["available"]


@SUITE.test
def test_register_browse_cart_checkout_replay_view_cancel(edge):
    alice, bob, staff = customer(edge), customer(edge), manager(edge)

    #  Browse: a product with stock at the web location
    products = edge.get("/api/v1/products?per_page=20&sort=price").json()["data"]
    product = next(p for p in products if web_stock(edge, staff, p["id"])[2] >= 5)
    before = web_stock(edge, staff, product["id"])

    #  Cart with QC taxes, each rounded half up on the subtotal
    response = edge.request("POST", "/api/v1/carts", body={"province": "QC"}, headers=alice)
    assert response.status == 201, response
    cart = response.json()
    response = edge.request("POST", "/api/v1/carts/%s/items" % cart["id"],
                            body={"product_id": product["id"], "quantity": 2}, headers=alice)
    assert response.status == 201, response
    cart = response.json()
    subtotal = 2 * product["price_cents"]
    assert cart["subtotal_cents"] == subtotal, cart
    gst, qst = (subtotal * 5000 + 50000) // 100000, (subtotal * 9975 + 50000) // 100000
    assert [t["amount_cents"] for t in cart["taxes"]] == [gst, qst], cart["taxes"]
    assert cart["total_cents"] == subtotal + gst + qst, cart

    #  Checkout: confirmed, with shipping and the same totals
    key = {"Idempotency-Key": "journey-" + uuid.uuid4().hex}
    order_body = {"cart_id": cart["id"],
                  "shipping_address": {"full_name": "Jeanne Voyage", "line1": "1 rue Sainte-Catherine",
                                       "city": "Montréal", "province": "QC",
                                       "postal_code": "H2X 1Y4", "country": "CA"},
                  "payment": {"method": "card", "token": "tok_visa"}}
    response = edge.request("POST", "/api/v1/checkout", body=order_body, headers={**alice, **key})
    assert response.status == 201, response
    assert response.header("Idempotent-Replayed") is None, response.headers
    order = response.json()
    assert order["status"] == "confirmed", order
    assert order["subtotal_cents"] == subtotal and order["tax_cents"] == gst + qst, order
    shipping = 0 if subtotal >= 7500 else 999
    assert order["shipping_cents"] == shipping, order
    assert order["total_cents"] == subtotal + gst + qst + shipping, order
    assert response.header("Location") == "/api/v1/orders/%d" % order["id"], response.headers
    after_checkout = web_stock(edge, staff, product["id"])
    assert after_checkout[0] == before[0] - 2 and after_checkout[1] == before[1], (before, after_checkout)

    #  The same request with the same key: the same answer, marked replayed;
    #  another request with that key: 422
    replay = edge.request("POST", "/api/v1/checkout", body=order_body, headers={**alice, **key})
    assert replay.status == 201 and replay.json() == order, replay
    assert replay.header("Idempotent-Replayed") == "true", replay.headers
    other = dict(order_body, payment={"method": "card", "token": "tok_mastercard"})
    assert_error(edge.request("POST", "/api/v1/checkout", body=other, headers={**alice, **key}),
                 422, "idempotency_key_reused")

    #  The owner sees it; another customer gets 404; the cart is gone
    assert edge.get("/api/v1/orders/%d" % order["id"], headers=alice).status == 200
    assert_error(edge.get("/api/v1/orders/%d" % order["id"], headers=bob), 404, "not_found")
    listed = edge.get("/api/v1/orders", headers=alice).json()["data"]
    assert [o["id"] for o in listed] == [order["id"]], listed
    assert edge.get("/api/v1/orders", headers=bob).json()["data"] == []
    assert_error(edge.get("/api/v1/carts/" + cart["id"], headers=alice), 404, "not_found")

    #  Cancel: cancelled, stock back
    response = edge.request("POST", "/api/v1/orders/%d/cancel" % order["id"], body={}, headers=alice)
    assert response.status == 200 and response.json()["status"] == "cancelled", response
    assert web_stock(edge, staff, product["id"]) == before, (before, web_stock(edge, staff, product["id"]))


@SUITE.test
def test_declined_payment_keeps_the_cart_and_the_stock(edge):
    alice, staff = customer(edge), manager(edge)
    products = edge.get("/api/v1/products?per_page=20").json()["data"]
    product = next(p for p in products if web_stock(edge, staff, p["id"])[2] >= 1)
    before = web_stock(edge, staff, product["id"])
    cart = edge.request("POST", "/api/v1/carts", body={}, headers=alice).json()
    edge.request("POST", "/api/v1/carts/%s/items" % cart["id"],
                 body={"product_id": product["id"], "quantity": 1}, headers=alice)
    body = {"cart_id": cart["id"], "shipping_address": {"full_name": "A", "line1": "1 rue",
            "city": "Québec", "province": "QC", "postal_code": "G1R 4P5", "country": "CA"},
            "payment": {"method": "card", "token": "tok_declined"}}
    response = edge.request("POST", "/api/v1/checkout", body=body,
                            headers={**alice, "Idempotency-Key": uuid.uuid4().hex})
    assert_error(response, 402, "payment_declined")
    assert web_stock(edge, staff, product["id"]) == before
    assert edge.get("/api/v1/carts/" + cart["id"], headers=alice).status == 200
    assert_error(edge.request("POST", "/api/v1/checkout", body=body, headers=alice),
                 400, "missing_idempotency_key")


@SUITE.test
def test_checkout_ships_to_an_address_of_the_book(edge):
    alice, bob, staff = customer(edge), customer(edge), manager(edge)
    address = {"type": "shipping", "full_name": "Alice Livraison", "line1": "12 rue du Port",
               "city": "Rimouski", "province": "QC", "postal_code": "G5L 1A1"}
    mine = edge.request("POST", "/api/v1/customers/me/addresses", body=address, headers=alice)
    assert mine.status == 201, mine
    theirs = edge.request("POST", "/api/v1/customers/me/addresses", body=address, headers=bob)
    assert theirs.status == 201, theirs
    products = edge.get("/api/v1/products?per_page=20").json()["data"]
    product = next(p for p in products if web_stock(edge, staff, p["id"])[2] >= 1)
    cart = edge.request("POST", "/api/v1/carts", body={}, headers=alice).json()
    edge.request("POST", "/api/v1/carts/%s/items" % cart["id"],
                 body={"product_id": product["id"], "quantity": 1}, headers=alice)

    def checkout(address_id):
        body = {"cart_id": cart["id"], "shipping_address_id": address_id,
                "payment": {"method": "card", "token": "tok_visa"}}
        return edge.request("POST", "/api/v1/checkout", body=body,
                            headers={**alice, "Idempotency-Key": uuid.uuid4().hex})

    #  Another customer's address, or none: 400 on the field, nothing reserved
    before = web_stock(edge, staff, product["id"])
    for address_id in (theirs.json()["id"], 999999999):
        error = assert_error(checkout(address_id), 400, "validation_failed")
        fields = [detail["field"] for detail in error["details"]]
        assert fields == ["shipping_address_id"], error
    assert web_stock(edge, staff, product["id"]) == before
    #  One's own: the order keeps a copy of it
    response = checkout(mine.json()["id"])
    assert response.status == 201, response
    shipped = response.json()["shipping_address"]
    assert shipped["city"] == "Rimouski" and shipped["address_id"] == mine.json()["id"], shipped
    assert shipped["full_name"] == "Alice Livraison" and "is_default" not in shipped, shipped
    #  Changing the book later does not change the order
    moved = edge.request("PUT", "/api/v1/customers/me/addresses/%d" % mine.json()["id"],
                         body={**address, "city": "Gaspé"}, headers=alice)
    assert moved.status == 200 and moved.json()["city"] == "Gaspé", moved
    order = edge.get("/api/v1/orders/%d" % response.json()["id"], headers=alice).json()
    assert order["shipping_address"]["city"] == "Rimouski", order


if __name__ == "__main__":
    SUITE.run(Edge())
