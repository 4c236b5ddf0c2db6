#!/usr/bin/env python3
"""Checkout races of issue 4, through the edge.

- Oversell: a fresh product with exactly STOCK units at the web location,
  CUSTOMERS customers each with a cart of one unit, and all their checkouts
  released at once by a barrier: exactly STOCK confirmed orders, the others
  409 out_of_stock, the stock row never negative while it runs, and after it
  on_hand 0, nothing reserved, the movement journal summing to on_hand, one
  captured payment for each confirmed order and none for the others.
- Idempotency: one customer, one cart, RACERS concurrent checkouts with the
  same Idempotency-Key and body: one order, one payment, the stock taken
  once; every answer 201 (the first, then stored replays marked
  Idempotent-Replayed) or 409 idempotency_key_in_use; the same key with
  another body 422.

The database checks read the test cluster (COMPTOIR_TEST_PG_ADMIN) with psql.
"""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import (StockSampler, Suite, assert_error, buyers, cart_with, error_code,  # noqa: E402
                    histogram, latency, new_customer, product_with_stock, race, run_with_database,
                    sql, staff_headers, stock_row)

SUITE = Suite()
STOCK = 10
CUSTOMERS = 200
RACERS = 50
ADDRESS = {"full_name": "Course Client", "line1": "1 rue Sainte-Catherine", "city": "Montréal",
           "province": "QC", "postal_code": "H2X 1Y4", "country": "CA"}


def web_location(edge):
    locations = edge.get("/api/v1/locations").json()["data"]
    return [location["id"] for location in locations if location["type"] == "web"][0]


def fresh_product(edge, staff, units, tag):
    """A new product with exactly units at the web location: (id, web id)."""
    web = web_location(edge)
    return product_with_stock(edge, staff, web, units, "Course " + tag), web


def checkout_body(cart, token="tok_visa"):
    return {"cart_id": cart, "shipping_address": ADDRESS,
            "payment": {"method": "card", "token": token}}


@SUITE.test
def test_oversell_race_confirms_exactly_the_stock(edge):
    staff = staff_headers(edge, "admin")
    product, web = fresh_product(edge, staff, STOCK, "oversell")
    assert stock_row(product, web) == (STOCK, 0, STOCK)

    #  CUSTOMERS customers, each with a cart holding one unit
    racers = buyers(product, CUSTOMERS, "race")

    #  The stock row sampled every 20 ms while the race runs
    sampler = StockSampler(product, web).start()
    started = time.monotonic()
    answers = race([("/api/v1/checkout", checkout_body(cart),
                     {**customer, "Idempotency-Key": "race-" + uuid.uuid4().hex})
                    for customer, cart in racers])
    elapsed = time.monotonic() - started
    samples = sampler.stop()
    bad_samples = [row for row in samples if min(row) < 0 or row[2] != row[0] - row[1]]
    counts = histogram(answers)
    print("  race: %d checkouts in %.2f s: %s; %s" % (CUSTOMERS, elapsed, counts, latency(answers)))
    print("  stock samples: %d, first %s, last %s, most reserved %d" % (
        len(samples), samples[:1], samples[-1:], max((row[1] for row in samples), default=-1)))

    confirmed = [a for a in answers if not isinstance(a, Exception) and a.status == 201]
    short = [a for a in answers if not isinstance(a, Exception) and a.status == 409
             and error_code(a) == "out_of_stock"]
    others = [a for a in answers if a not in confirmed and a not in short]
    for answer in others[:5]:
        print("  unexpected answer: %r request %s" % (
            answer, None if isinstance(answer, Exception) else answer.header("X-Request-ID")))
    assert len(samples) >= 5, "the stock sampler did not run: %d samples" % len(samples)
    assert not bad_samples, "stock row out of bounds while racing: %s" % bad_samples[:5]
    assert len(confirmed) == STOCK and len(short) == CUSTOMERS - STOCK and not others, counts
    orders = [answer.json() for answer in confirmed]
    assert all(order["status"] == "confirmed" for order in orders), orders
    for answer in short:
        assert_error(answer, 409, "out_of_stock")

    #  After: no unit left, none held, the journal sums to on_hand
    assert stock_row(product, web) == (0, 0, 0), stock_row(product, web)
    journal = sql("inventory", "SELECT COALESCE (sum (delta), 0), count (*) FROM movements "
                               "WHERE product_id = %d AND location_id = %d" % (product, web))[0]
    assert int(journal[0]) == 0, "movements sum to %s over %s rows, on_hand is 0" % tuple(journal)
    held = sql("inventory", "SELECT r.id, r.status FROM reservations r JOIN reservation_lines l "
                            "ON l.reservation_id = r.id WHERE l.product_id = %d AND r.status = 'held'"
                            % product)
    assert not held, "reservations still held: %s" % held

    #  Exactly the confirmed answers are confirmed orders, each with one
    #  captured payment; the other orders of the product have none captured
    rows = sql("order", "SELECT o.id, o.status, o.step, "
                        "  (SELECT count (*) FROM payments p WHERE p.order_id = o.id AND p.status = 'captured'), "
                        "  (SELECT count (*) FROM payments p WHERE p.order_id = o.id) "
                        "FROM orders o JOIN order_items i ON i.order_id = o.id "
                        "WHERE i.product_id = %d ORDER BY o.id" % product)
    db_confirmed = {int(row[0]) for row in rows if row[1] == "confirmed"}
    assert db_confirmed == {order["id"] for order in orders}, (db_confirmed, [o["id"] for o in orders])
    assert all(row[2] == "done" for row in rows), [row for row in rows if row[2] != "done"]
    for row in rows:
        if row[1] == "confirmed":
            assert row[3] == "1" and row[4] == "1", "confirmed order without one captured payment: %s" % row
        else:
            assert row[1] == "cancelled" and row[3] == "0", "order of a refused checkout: %s" % row
    print("  orders of the product: %d confirmed, %d cancelled (refused checkouts)" % (
        len(db_confirmed), len(rows) - len(db_confirmed)))


@SUITE.test
def test_same_idempotency_key_in_parallel_makes_one_order(edge):
    staff = staff_headers(edge, "admin")
    product, web = fresh_product(edge, staff, 100, "idempotency")
    _, customer = new_customer(edge, "idem")
    cart = cart_with(edge, customer, product, 1)
    key = "idem-race-" + uuid.uuid4().hex
    headers = {**customer, "Idempotency-Key": key}
    body = checkout_body(cart)

    answers = race([("/api/v1/checkout", body, headers)] * RACERS)
    counts = histogram(answers)
    print("  %d checkouts with one key: %s; %s" % (RACERS, counts, latency(answers)))
    created = [a for a in answers if not isinstance(a, Exception) and a.status == 201]
    in_use = [a for a in answers if not isinstance(a, Exception) and a.status == 409
              and error_code(a) == "idempotency_key_in_use"]
    assert len(created) + len(in_use) == RACERS and created, counts
    for answer in in_use:
        assert_error(answer, 409, "idempotency_key_in_use")
    first = [a for a in created if a.header("Idempotent-Replayed") is None]
    replays = [a for a in created if a.header("Idempotent-Replayed") == "true"]
    assert len(first) == 1 and len(first) + len(replays) == len(created), \
        [a.header("Idempotent-Replayed") for a in created]
    order = first[0].json()
    assert order["status"] == "confirmed", order
    for answer in replays:
        assert answer.json() == order, (answer.json(), order)

    #  After: the same request replays the same body, marked
    again = edge.request("POST", "/api/v1/checkout", body=body, headers=headers)
    assert again.status == 201 and again.json() == order, again
    assert again.header("Idempotent-Replayed") == "true", again.headers
    #  Another body with that key: 422
    other = checkout_body(cart, "tok_mastercard")
    assert_error(edge.request("POST", "/api/v1/checkout", body=other, headers=headers),
                 422, "idempotency_key_reused")

    #  One order, one payment, the stock down once
    rows = sql("order", "SELECT o.id, o.status, (SELECT count (*) FROM payments p WHERE p.order_id = o.id), "
                        "(SELECT string_agg (p.status, ',') FROM payments p WHERE p.order_id = o.id) "
                        "FROM orders o WHERE o.idem_key = '%s'" % key)
    assert rows == [[str(order["id"]), "confirmed", "1", "captured"]], rows
    keys = sql("order", "SELECT status, response->>'status' FROM idempotency_keys WHERE key = '%s'" % key)
    assert keys == [["done", "201"]], keys
    assert stock_row(product, web) == (99, 0, 99), stock_row(product, web)
    print("  order %s (%s): %d first answer, %d replays, %d in use" % (
        order["id"], order["number"], len(first), len(replays), len(in_use)))


if __name__ == "__main__":
    run_with_database(SUITE)
