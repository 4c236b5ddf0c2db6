#!/usr/bin/env python3
"""The point of sale of issue 8, through the edge.

- A POS day at the Montréal store (store 1, QC): a register opened with a
  float (a second open 409), products found by barcode, a sale with a line
  discount paid half cash half card with change, the same key replayed
  (Idempotent-Replayed) and reused (422), a card declined (402, nothing
  taken, no receipt number spent), a cashier's discount over 20 % (403)
  that a manager may give, a sale short of stock (409 out_of_stock, nothing
  recorded), the receipt as 40-column text, a partial return then a second
  one that goes over (409), stock back at the store, and the close with the
  counted cash: every Z report figure checked against the sums of the sales
  and returns made in the session, over/short included; the daily summary,
  and sale.completed / sale.returned in the sales outbox.
- The role matrix of every new route: no token 401, a customer 403, staff
  of another store 404, staff of the store and the admin served.
- Bad input (unknown register, closed session, negative amounts, payments
  short of the total, cards over it, discount over the limit, unknown
  fields, bad JSON, no Idempotency-Key) answers the error body, never a 5xx.

Fresh products (with a valid EAN-13 and a cost) and stock at the store are
made through the API; the database checks read the test cluster with psql.
"""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import (DEMO_STORE, Edge, Suite, assert_error, barcoded_product, keyed,  # noqa: E402
                    new_customer, open_register, sql, staff_headers, store_location)

SUITE = Suite()
STORE = DEMO_STORE      # Montréal, QC: GST 5 % + QST 9.975 %


def staff(edge, role, store=STORE):
    """The Authorization header of the demo account with role (of store)."""
    return staff_headers(edge, role, None if role == "admin" else store)


def on_hand(edge, admin, product, store=STORE):
    rows = edge.get("/api/v1/inventory?product_id=%d&location_id=%d"
                    % (product, store_location(edge, store)), headers=admin).json()["data"]
    return rows[0]["on_hand"] if rows else 0


def receipt_counter(store=STORE):
    return int(sql("sales", "SELECT next_receipt FROM stores WHERE id = %d" % store)[0][0])


#  --------------------------------------------------------------------------

@SUITE.test
def test_pos_day(edge):
    admin = staff(edge, "admin")
    cashier = staff(edge, "cashier")
    manager = staff(edge, "manager")
    cup, cup_code = barcoded_product(edge, admin, 1000, 450, 10)
    pot, pot_code = barcoded_product(edge, admin, 2599, 1200, 5)
    register, session = open_register(edge, cashier)
    response = edge.request("POST", "/api/v1/registers/%d/open" % register, headers=cashier,
                            body={"opening_float_cents": 100})
    assert_error(response, 409, "register_open")

    # Scanned: the barcode finds the product
    response = edge.get("/api/v1/products/barcode/%s" % cup_code)
    assert response.status == 200 and response.json()["id"] == cup, response
    assert edge.get("/api/v1/products/barcode/%s" % pot_code).json()["id"] == pot

    # 3 cups at 10 % off and a teapot, 45.00 cash and 20.00 by card
    sale_body = {"register_id": register,
                 "items": [{"product_id": cup, "quantity": 3, "discount_percent": 10},
                           {"product_id": pot, "quantity": 1}],
                 "payments": [{"method": "cash", "amount_cents": 4500},
                              {"method": "credit_card", "amount_cents": 2000, "card_token": "tok_visa"}]}
    key = uuid.uuid4().hex
    response = edge.request("POST", "/api/v1/sales", headers=keyed(cashier, key), body=sale_body)
    assert response.status == 201, response
    sale = response.json()
    assert sale["status"] == "completed" and sale["store_id"] == STORE and sale["register_id"] == register
    assert sale["subtotal_cents"] == 5599 and sale["discount_cents"] == 300
    assert [t["amount_cents"] for t in sale["taxes"]] == [265, 529], sale["taxes"]
    assert sale["tax_cents"] == 794 and sale["total_cents"] == 6093 and sale["change_cents"] == 407
    assert sale["receipt_number"].startswith("S01-") and len(sale["receipt_number"]) == 10
    assert sum(i["tax_cents"] for i in sale["items"]) == 794
    assert on_hand(edge, admin, cup) == 7 and on_hand(edge, admin, pot) == 4
    sales = [sale]

    # The same key and body: the first answer again; another body: 422
    response = edge.request("POST", "/api/v1/sales", headers=keyed(cashier, key), body=sale_body)
    assert response.status == 201 and response.header("Idempotent-Replayed") == "true", response
    assert response.json()["id"] == sale["id"]
    other = dict(sale_body, payments=[{"method": "cash", "amount_cents": 7000}])
    assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(cashier, key), body=other),
                 422, "idempotency_key_reused")
    assert on_hand(edge, admin, cup) == 7

    # A declined card: nothing taken, nothing recorded, no number spent
    counter = receipt_counter()
    declined = {"register_id": register, "items": [{"product_id": cup, "quantity": 1}],
                "payments": [{"method": "debit_card", "amount_cents": 1150, "card_token": "tok_declined"}]}
    assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=declined),
                 402, "payment_declined")
    assert on_hand(edge, admin, cup) == 7 and receipt_counter() == counter

    # Over a cashier's 20 %: 403; a manager may
    generous = {"register_id": register, "items": [{"product_id": cup, "quantity": 1, "discount_percent": 25}],
                "payments": [{"method": "cash", "amount_cents": 1000}]}
    assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=generous), 403, "forbidden")
    response = edge.request("POST", "/api/v1/sales", headers=keyed(manager), body=generous)
    assert response.status == 201, response
    assert response.json()["total_cents"] == 750 + 38 + 75 and response.json()["change_cents"] == 137
    sales.append(response.json())

    # Short of stock: 409 with the line, nothing recorded
    counter = receipt_counter()
    greedy = {"register_id": register, "items": [{"product_id": pot, "quantity": 5}],
              "payments": [{"method": "credit_card", "amount_cents": 14941}]}
    error = assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=greedy),
                         409, "out_of_stock")
    assert error["details"] and error["details"][0]["product_id"] == pot, error
    assert on_hand(edge, admin, pot) == 4 and receipt_counter() == counter

    # Split mobile + cash, exact
    response = edge.request("POST", "/api/v1/sales", headers=keyed(cashier),
                            body={"register_id": register, "items": [{"product_id": pot, "quantity": 1}],
                                  "payments": [{"method": "mobile", "amount_cents": 2000},
                                               {"method": "cash", "amount_cents": 988}]})
    assert response.status == 201 and response.json()["total_cents"] == 2988, response
    sales.append(response.json())
    numbers = [int(s["receipt_number"][4:]) for s in sales]
    assert numbers == list(range(numbers[0], numbers[0] + 3)), numbers

    # The receipt, as a printer prints it
    response = edge.get("/api/v1/sales/%d/receipt" % sale["id"], headers=cashier)
    assert response.status == 200 and response.header("Content-Type").startswith("text/plain"), response
    text = response.body.decode("utf-8")
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines), [l for l in lines if len(l) > 40]
    assert sale["receipt_number"] in text
    assert "TOTAL                              60.93" in lines
    assert "Change                              4.07" in lines
    assert "  Discount 10%                     -3.00" in lines
    assert any(line.startswith("QST 9.975%") and line.endswith("5.29") for line in lines)
    assert any(line.startswith("Credit card") and line.endswith("20.00") for line in lines)

    # Returns: 2 cups (18.00 + 2.70 tax, in cash), then 2 more is beyond what is left
    response = edge.request("POST", "/api/v1/sales/%d/returns" % sale["id"], headers=keyed(cashier),
                            body={"items": [{"product_id": cup, "quantity": 2}], "reason": "cracked"})
    assert response.status == 201, response
    first_return = response.json()
    assert first_return["refund_cents"] == 2070 and first_return["sale_id"] == sale["id"]
    assert first_return["refunds"] == [{"method": "cash", "amount_cents": 2070}]
    error = assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sale["id"], headers=keyed(cashier),
                                      body={"items": [{"product_id": cup, "quantity": 2}], "reason": "again"}),
                         409, "conflict")
    assert error["details"][0]["returnable"] == 1, error
    assert on_hand(edge, admin, cup) == 8, on_hand(edge, admin, cup)   # 10 - 3 - 1 + 2
    response = edge.get("/api/v1/sales/%d" % sale["id"], headers=cashier)
    assert response.status == 200 and len(response.json()["returns"]) == 1
    assert response.json()["items"][0]["returned_quantity"] == 2

    # Close: the Z report against the sums of what happened in the session
    counted = 20000 + 4500 + 1000 + 988 - 407 - 137 - 2070 - 150     # 1.50 short
    response = edge.request("POST", "/api/v1/registers/%d/close" % register, headers=cashier,
                            body={"counted_cash_cents": counted})
    assert response.status == 200, response
    z = response.json()
    assert z["session_id"] == session and z["register_id"] == register
    assert z["sales_count"] == len(sales)
    assert z["gross_cents"] == sum(s["subtotal_cents"] for s in sales)
    assert z["discount_cents"] == sum(s["discount_cents"] for s in sales)
    assert z["returns_count"] == 1 and z["returns_cents"] == 1800 and z["refund_cents"] == 2070
    assert z["net_cents"] == z["gross_cents"] - z["discount_cents"] - 1800
    assert z["tax_cents"] == sum(s["tax_cents"] for s in sales) - 270
    cash_in = sum(p["amount_cents"] for s in sales for p in s["payments"] if p["method"] == "cash")
    assert z["payments"]["cash"] == cash_in == 6488
    assert z["payments"]["credit_card"] == 2000 and z["payments"]["mobile"] == 2000
    assert z["change_cents"] == sum(s["change_cents"] for s in sales) == 544
    assert z["cash_refunds_cents"] == 2070
    assert z["expected_cash_cents"] == 20000 + cash_in - 544 - 2070
    assert z["counted_cash_cents"] == counted and z["over_short_cents"] == -150
    assert_error(edge.request("POST", "/api/v1/registers/%d/close" % register, headers=cashier,
                              body={"counted_cash_cents": counted}), 409, "register_closed")
    # Closed: no sale, no cash refund there
    assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=sale_body),
                 409, "register_closed")
    assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sale["id"], headers=keyed(cashier),
                              body={"items": [{"product_id": cup, "quantity": 1}], "reason": "late"}),
                 409, "register_closed")

    # The store's day includes the session's figures
    response = edge.get("/api/v1/sales/summary/daily", headers=manager)
    assert response.status == 200, response
    day = response.json()
    assert day["store_id"] == STORE and day["sales_count"] >= len(sales)
    assert day["over_short_cents"] <= -150 or day["sessions_closed"] >= 1

    # The events, in the outbox of the same transactions
    rows = sql("sales", "SELECT payload ->> 'total_cents', payload -> 'items' -> 0 ->> 'cost_cents', "
                        "jsonb_array_length (payload -> 'payments') FROM outbox "
                        "WHERE topic = 'sale.completed' AND payload ->> 'sale_id' = '%d'" % sale["id"])
    assert rows == [["6093", "450", "2"]], rows
    rows = sql("sales", "SELECT payload ->> 'refund_cents', payload ->> 'receipt_number' FROM outbox "
                        "WHERE topic = 'sale.returned' AND payload ->> 'return_id' = '%d'" % first_return["id"])
    assert rows == [["2070", sale["receipt_number"]]], rows
    # ... and the relay publishes them on the bus
    deadline = time.monotonic() + 5
    while sql("sales", "SELECT count (*) FROM outbox WHERE published_at IS NULL")[0][0] != "0":
        assert time.monotonic() < deadline, "sales events not published"
        time.sleep(0.1)


@SUITE.test
def test_role_matrix(edge):
    cashier = staff(edge, "cashier")
    other = staff(edge, "cashier", store=2)
    _, customer = new_customer(edge, "pos")
    register, _ = open_register(edge, cashier, float_cents=0)
    sale_body = {"register_id": register, "items": [{"product_id": 1, "quantity": 1}],
                 "payments": [{"method": "cash", "amount_cents": 100000}]}
    response = edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=sale_body)
    assert response.status == 201, response
    sale = response.json()["id"]
    routes = [("GET", "/api/v1/registers", None),
              ("POST", "/api/v1/registers/%d/open" % register, {"opening_float_cents": 0}),
              ("POST", "/api/v1/registers/%d/close" % register, {"counted_cash_cents": 0}),
              ("POST", "/api/v1/sales", sale_body),
              ("GET", "/api/v1/sales", None),
              ("GET", "/api/v1/sales/%d" % sale, None),
              ("GET", "/api/v1/sales/%d/receipt" % sale, None),
              ("POST", "/api/v1/sales/%d/returns" % sale, {"items": [{"product_id": 1, "quantity": 1}],
                                                           "reason": "x"}),
              ("GET", "/api/v1/sales/summary/daily", None)]
    for method, path, body in routes:
        assert_error(edge.request(method, path, headers=keyed({}), body=body), 401, "unauthorized")
        assert_error(edge.request(method, path, headers=keyed(customer), body=body), 403, "forbidden")
    # Another store's staff: that register and that sale are not there
    for method, path, body in routes[1:3] + routes[5:8]:
        assert_error(edge.request(method, path, headers=keyed(other), body=body), 404, "not_found")
    assert_error(edge.request("POST", "/api/v1/sales", headers=keyed(other), body=sale_body), 404, "not_found")
    assert_error(edge.get("/api/v1/sales?store_id=%d" % STORE, headers=other), 404, "not_found")
    assert_error(edge.get("/api/v1/sales/summary/daily?store_id=%d" % STORE, headers=other), 404, "not_found")
    listed = edge.get("/api/v1/registers", headers=other).json()["data"]
    assert listed and all(r["store_id"] == 2 for r in listed), listed
    # The store's own staff and the admin are served
    for role in ("cashier", "manager", "admin"):
        headers = staff(edge, role)
        for path in ("/api/v1/registers", "/api/v1/sales?store_id=1", "/api/v1/sales/%d" % sale,
                     "/api/v1/sales/%d/receipt" % sale, "/api/v1/sales/summary/daily?store_id=1"):
            response = edge.get(path, headers=headers)
            assert response.status == 200, (role, path, response)
    admin = staff(edge, "admin")
    assert_error(edge.get("/api/v1/sales/summary/daily", headers=admin), 400, "validation_failed")
    response = edge.request("POST", "/api/v1/registers/%d/close" % register, headers=admin,
                            body={"counted_cash_cents": 0})
    assert response.status == 200, response


@SUITE.test
def test_bad_input_is_refused(edge):
    cashier = staff(edge, "cashier")
    admin = staff(edge, "admin")
    product, _ = barcoded_product(edge, admin, 1000, 500, 5)
    register, _ = open_register(edge, cashier, float_cents=0)

    def sale(items=None, payments=None, **extra):
        body = {"register_id": register,
                "items": items if items is not None else [{"product_id": product, "quantity": 1}],
                "payments": payments if payments is not None else [{"method": "cash", "amount_cents": 2000}]}
        body.update(extra)
        return edge.request("POST", "/api/v1/sales", headers=keyed(cashier), body=body)

    assert_error(edge.request("POST", "/api/v1/sales", headers=cashier,
                              body={"register_id": register, "items": [], "payments": []}),
                 400, "missing_idempotency_key")
    assert_error(edge.request("POST", "/api/v1/sales", headers=dict(keyed(cashier), **{"Content-Type": "application/json"}),
                              body="{not json"),
                 400, "invalid_json")
    assert_error(sale(register_id=999999), 404, "not_found")
    assert_error(sale(payments=[{"method": "cash", "amount_cents": -500}]), 400, "validation_failed")
    assert_error(sale(payments=[{"method": "cash", "amount_cents": 500}]), 400, "validation_failed")
    assert_error(sale(payments=[{"method": "credit_card", "amount_cents": 2000}]), 400, "validation_failed")
    assert_error(sale(payments=[{"method": "cheque", "amount_cents": 2000}]), 400, "validation_failed")
    assert_error(sale(items=[{"product_id": product, "quantity": 1, "discount_percent": 21}]), 403, "forbidden")
    assert_error(sale(items=[{"product_id": product, "quantity": 1, "discount_percent": 150}]),
                 400, "validation_failed")
    assert_error(sale(items=[{"product_id": product, "quantity": -1}]), 400, "validation_failed")
    assert_error(sale(items=[{"product_id": product, "quantity": 1, "unit_price_cents": 1}]),
                 400, "validation_failed")
    assert_error(sale(items=[{"product_id": 99999999, "quantity": 1}]), 404, "not_found")
    assert_error(sale(store_id=2), 400, "validation_failed")
    assert_error(edge.request("POST", "/api/v1/registers/%d/open" % register, headers=cashier,
                              body={"opening_float_cents": -1}), 400, "validation_failed")
    assert_error(edge.request("POST", "/api/v1/registers/999999/open", headers=cashier,
                              body={"opening_float_cents": 0}), 404, "not_found")
    assert_error(edge.request("POST", "/api/v1/registers/abc/close", headers=cashier,
                              body={"counted_cash_cents": 0}), 400, "validation_failed")
    assert_error(edge.get("/api/v1/sales/summary/daily?date=2026-02-30", headers=cashier), 400, "validation_failed")
    assert_error(edge.get("/api/v1/sales?from=tomorrow", headers=cashier), 400, "validation_failed")
    assert_error(edge.get("/api/v1/sales/0/receipt", headers=cashier), 400, "validation_failed")
    assert_error(edge.get("/api/v1/sales/99999999", headers=cashier), 404, "not_found")
    response = sale()
    assert response.status == 201, response
    sold = response.json()["id"]
    assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sold, headers=cashier,
                              body={"items": [{"product_id": product, "quantity": 1}], "reason": "x"}),
                 400, "missing_idempotency_key")
    assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sold, headers=keyed(cashier),
                              body={"items": [{"product_id": product, "quantity": 0}], "reason": "x"}),
                 400, "validation_failed")
    assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sold, headers=keyed(cashier),
                              body={"items": [{"product_id": product, "quantity": 1}]}),
                 400, "validation_failed")
    assert_error(edge.request("POST", "/api/v1/sales/%d/returns" % sold, headers=keyed(cashier),
                              body={"items": [{"product_id": product, "quantity": 1}], "reason": "x",
                                    "register_id": 3}),
                 404, "not_found")
    response = edge.request("POST", "/api/v1/registers/%d/close" % register, headers=cashier,
                            body={"counted_cash_cents": 1150})
    assert response.status == 200 and response.json()["over_short_cents"] == 0, response
    # A closed session: 409 register_closed, the error body
    assert_error(sale(), 409, "register_closed")


if __name__ == "__main__":
    SUITE.run(Edge())
