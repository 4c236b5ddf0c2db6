#!/usr/bin/env python3
"""Oversell across channels (issue 8), through the edge.

Click & collect makes a web checkout take a store's units: the same ones the
store's tills sell. A fresh product has exactly STOCK units at store 1 and
none anywhere else; WEB customers check out one unit each for pickup at
store 1 while POS sales of one unit each ring up on both registers of store
1, all released at once by a barrier, while a psql session samples the
stock row every 20 ms. Whatever the interleaving:

- exactly STOCK answers are 201 (confirmed orders plus completed sales),
  every other one is 409 out_of_stock, from either channel;
- the stock row is never negative and available = on_hand - reserved in
  every sample; afterwards on_hand 0, nothing reserved, no reservation held;
- the movement journal of that product at the store sums to on_hand (0),
  with one movement per unit sold by either channel;
- the confirmed pickup orders in the order database plus the completed
  sales in the sales database are STOCK, each channel's share equal to its
  201 answers;
- whichever channel won, one more unit received at the store goes to a
  pickup checkout of a customer who lost, through a reservation held at the
  store's location (so the test fails if pickups took stock elsewhere).

The database checks read the test cluster (COMPTOIR_TEST_PG_ADMIN) with psql.
"""

import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import (StockSampler, Suite, assert_error, buyers, error_code,  # noqa: E402
                    histogram, latency, product_with_stock, race, run_with_database, sql,
                    staff_headers, stock_row)

SUITE = Suite()
STORE = 1
STOCK = 12
WEB = 40
POS = 40


def store_location(edge, store=STORE):
    return [location["id"] for location in edge.get("/api/v1/locations").json()["data"]
            if location["type"] == "store" and location.get("store_id") == store][0]


def store_only_product(edge, manager, location):
    """A new product (made by the store's manager) with STOCK units at the
    store's location and no stock row anywhere else: its id."""
    product = product_with_stock(edge, manager, location, STOCK, "Canaux", cost_cents=600)
    rows = edge.get("/api/v1/inventory/%d" % product, headers=manager).json()
    assert [(row["location_id"], row["on_hand"]) for row in rows["data"] if row["on_hand"]] \
        == [(location, STOCK)], rows
    assert rows["total_available"] == STOCK, rows
    return product


def open_registers(edge, cashier):
    """Both registers of the store with an open session: (ids, the ones
    opened here). A session another suite left open is used as it is."""
    registers = [r for r in edge.get("/api/v1/registers", headers=cashier).json()["data"]
                 if r["store_id"] == STORE]
    assert len(registers) >= 2, registers
    opened = []
    for register in registers[:2]:
        if register["session"] is None:
            response = edge.request("POST", "/api/v1/registers/%d/open" % register["id"],
                                    headers=cashier, body={"opening_float_cents": 0})
            if response.status == 201:
                opened.append(register["id"])
            else:       # another suite opened it meanwhile: it is open all the same
                assert_error(response, 409, "register_open")
    return [register["id"] for register in registers[:2]], opened


def close_registers(edge, cashier, registers):
    for register in registers:
        response = edge.request("POST", "/api/v1/registers/%d/close" % register, headers=cashier,
                                body={"counted_cash_cents": 0})
        assert response.status == 200, response


@SUITE.test
def test_web_pickups_and_tills_never_sell_more_than_the_shelf(edge):
    manager = staff_headers(edge, "manager", STORE)
    cashier = staff_headers(edge, "cashier", STORE)
    location = store_location(edge)
    product = store_only_product(edge, manager, location)
    assert stock_row(product, location) == (STOCK, 0, STOCK)

    #  WEB customers, each with its own cart of one unit
    customers = buyers(product, WEB, "pickup")
    registers, opened = open_registers(edge, cashier)

    web = [("/api/v1/checkout",
            {"cart_id": cart, "pickup_store_id": STORE, "payment": {"method": "card", "token": "tok_visa"}},
            {**customer, "Idempotency-Key": "pickup-" + uuid.uuid4().hex})
           for customer, cart in customers]
    pos = [("/api/v1/sales",
            {"register_id": registers[index % 2], "items": [{"product_id": product, "quantity": 1}],
             "payments": [{"method": "cash", "amount_cents": 2000}]},
            {**cashier, "Idempotency-Key": "till-" + uuid.uuid4().hex})
           for index in range(POS)]
    requests = web + pos
    order = list(range(len(requests)))
    random.shuffle(order)
    try:
        sampler = StockSampler(product, location).start()
        started = time.monotonic()
        shuffled = race([requests[index] for index in order])
        elapsed = time.monotonic() - started
        samples = sampler.stop()
    finally:
        close_registers(edge, cashier, opened)
    answers = [None] * len(requests)
    for position, index in enumerate(order):
        answers[index] = shuffled[position]
    web_answers, pos_answers = answers[:WEB], answers[WEB:]
    print("  race: %d web pickups %s, %d till sales %s in %.2f s; %s" % (
        WEB, histogram(web_answers), POS, histogram(pos_answers), elapsed, latency(answers)))
    print("  stock samples: %d, first %s, last %s, most reserved %d" % (
        len(samples), samples[:1], samples[-1:], max((row[1] for row in samples), default=-1)))

    def sold(answer):
        return not isinstance(answer, Exception) and answer.status == 201

    def short(answer):
        return not isinstance(answer, Exception) and answer.status == 409 \
            and error_code(answer) == "out_of_stock"

    others = [a for a in answers if not sold(a) and not short(a)]
    for answer in others[:5]:
        print("  unexpected answer: %r request %s" % (
            answer, None if isinstance(answer, Exception) else answer.header("X-Request-ID")))
    assert not others, histogram(answers)
    orders = [a.json() for a in web_answers if sold(a)]
    sales = [a.json() for a in pos_answers if sold(a)]
    assert len(orders) + len(sales) == STOCK, (len(orders), len(sales))
    for answer in answers:
        if short(answer):
            assert_error(answer, 409, "out_of_stock")
    assert all(o["status"] == "confirmed" and o["pickup_store_id"] == STORE and o["shipping_cents"] == 0
               and o["shipping_address"] is None for o in orders), orders
    assert all(s["status"] == "completed" and s["store_id"] == STORE for s in sales), sales

    #  The shelf while it ran and after
    bad_samples = [row for row in samples if min(row) < 0 or row[2] != row[0] - row[1]]
    assert len(samples) >= 5, "the stock sampler did not run: %d samples" % len(samples)
    assert samples[0] == (STOCK, 0, STOCK) and samples[-1] == (0, 0, 0), (samples[:1], samples[-1:])
    assert not bad_samples, "stock row out of bounds while racing: %s" % bad_samples[:5]
    assert stock_row(product, location) == (0, 0, 0), stock_row(product, location)
    held = sql("inventory", "SELECT r.id, r.status FROM reservations r JOIN reservation_lines l "
                            "ON l.reservation_id = r.id WHERE l.product_id = %d AND r.status = 'held'"
                            % product)
    assert not held, "reservations still held: %s" % held

    #  The journal at the store: it sums to on_hand, one unit out per sale of
    #  either channel, and nothing moved anywhere else
    journal = dict((cause, (int(total), int(rows))) for cause, total, rows in sql(
        "inventory", "SELECT cause, sum (delta), count (*) FROM movements WHERE product_id = %d "
                     "AND location_id = %d GROUP BY cause" % (product, location)))
    assert sum(total for total, _ in journal.values()) == 0, journal
    assert journal.get("order", (0, 0)) == (-len(orders), len(orders)), journal
    assert journal.get("sale", (0, 0)) == (-len(sales), len(sales)), journal
    elsewhere = sql("inventory", "SELECT count (*) FROM movements WHERE product_id = %d "
                                 "AND location_id <> %d" % (product, location))
    assert elsewhere == [["0"]], elsewhere

    #  The order and the sales databases agree with the answers
    rows = sql("order", "SELECT o.id, o.status, o.step, o.pickup_store_id FROM orders o "
                        "JOIN order_items i ON i.order_id = o.id WHERE i.product_id = %d" % product)
    confirmed = {int(row[0]) for row in rows if row[1] == "confirmed"}
    assert confirmed == {o["id"] for o in orders}, (confirmed, [o["id"] for o in orders])
    assert all(row[3] == str(STORE) for row in rows if row[1] == "confirmed"), rows
    assert all(row[1] in ("confirmed", "cancelled") and row[2] == "done" for row in rows), rows
    completed = {int(row[0]) for row in sql(
        "sales", "SELECT s.id FROM sales s JOIN sale_items i ON i.sale_id = s.id "
                 "WHERE i.product_id = %d AND s.status = 'completed' AND s.store_id = %d"
                 % (product, STORE))}
    assert completed == {s["id"] for s in sales}, (completed, [s["id"] for s in sales])
    assert len(confirmed) + len(completed) == STOCK, (len(confirmed), len(completed))
    print("  sold %d: %d pickup orders, %d till sales; journal %s" % (
        STOCK, len(confirmed), len(completed), journal))

    #  Whoever won the race: one more unit on the shelf, and a customer who
    #  lost checks out again for pickup. The unit that leaves is the store's
    #  (the product has no stock anywhere else), held by the order's
    #  reservation at the store's location.
    loser = next(index for index, answer in enumerate(web_answers) if short(answer))
    customer, _ = customers[loser]
    response = edge.request("POST", "/api/v1/inventory/adjustments", headers=manager,
                            body={"product_id": product, "location_id": location, "delta": 1,
                                  "reason": "receipt"})
    assert response.status == 201, response
    response = edge.request("POST", "/api/v1/checkout", body=web[loser][1],
                            headers={**customer, "Idempotency-Key": "pickup-again-" + uuid.uuid4().hex})
    assert response.status == 201, response
    again = response.json()
    assert again["pickup_store_id"] == STORE and again["shipping_cents"] == 0, again
    assert sql("inventory", "SELECT location_id, status FROM reservations WHERE id = 'order:%s'"
                            % again["number"]) == [[str(location), "committed"]]
    assert stock_row(product, location) == (0, 0, 0), stock_row(product, location)


if __name__ == "__main__":
    run_with_database(SUITE)
