#!/usr/bin/env python3
"""Reports through the edge, against the live system of scripts/testenv.sh.

- Roles: the three report routes answer 401 without a token, 403 to a
  customer and a cashier, 200 to a manager and an admin.
- Freshness and exactness: web orders placed through checkout show on the
  dashboard within a second of their 201, and today's web figures equal
  the sums in the order database (confirmed today, not cancelled); a
  cancel takes the order off again within a second.
- Reporting killed (SIGKILL) while orders are placed and cancelled: once
  the supervisor has started it again, it catches up from its cursors and
  the figures equal the order database again.
- The sales report checks its query (400 validation_failed) and agrees
  with the order database; the inventory report's units per location
  agree with the inventory database, its locations carry their names.

The database checks read the test cluster (COMPTOIR_TEST_PG_ADMIN) with psql.
"""

import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Suite, assert_error, new_customer, sql, staff_headers  # noqa: E402
from test_checkout_races import ADDRESS, cart_with, fresh_product  # noqa: E402

SUITE = Suite()
ROUTES = ["/api/v1/reports/dashboard", "/api/v1/reports/sales", "/api/v1/reports/inventory"]
FRESH_S = 1.0
ORDERS = 3


def web_today():
    """(revenue, tax, orders) confirmed today (UTC) and not cancelled, in the order database."""
    rows = sql("order", "SELECT COALESCE (sum (o.subtotal_cents), 0), COALESCE (sum (o.tax_cents), 0),"
                        " count (*) FROM orders o JOIN order_history h"
                        "   ON h.order_id = o.id AND h.status = 'confirmed'"
                        " WHERE o.status <> 'cancelled'"
                        "   AND (h.at AT TIME ZONE 'UTC')::date = (now () AT TIME ZONE 'UTC')::date")
    return tuple(int(value) for value in rows[0])


def dashboard(edge, manager):
    response = edge.get(ROUTES[0], headers=manager)
    assert response.status == 200, response
    return response.json()


def wait_for(edge, manager, orders, started):
    """Poll the dashboard until today's web orders is orders: seconds it took."""
    while True:
        body = dashboard(edge, manager)
        spent = time.monotonic() - started
        if body["today"]["web_orders"] == orders:
            return spent, body
        assert spent < 5, "the dashboard still shows %d web orders, not %d" % (
            body["today"]["web_orders"], orders)
        time.sleep(0.02)


@SUITE.test
def test_reports_role_matrix(edge):
    _, customer = new_customer(edge, "reports")
    roles = {"customer": customer, "cashier": staff_headers(edge, "cashier"),
             "manager": staff_headers(edge, "manager"), "admin": staff_headers(edge, "admin")}
    for route in ROUTES:
        assert_error(edge.get(route), 401, "unauthorized")
        assert_error(edge.get(route, key=False, headers=roles["manager"]), 401, "unauthorized")
        assert_error(edge.get(route, headers=roles["customer"]), 403, "forbidden")
        assert_error(edge.get(route, headers=roles["cashier"]), 403, "forbidden")
        for role in ("manager", "admin"):
            response = edge.get(route, headers=roles[role])
            assert response.status == 200, (route, role, response)


@SUITE.test
def test_dashboard_shows_web_orders_within_a_second(edge):
    staff = staff_headers(edge, "admin")
    manager = staff_headers(edge, "manager")
    product, _ = fresh_product(edge, staff, ORDERS + 2, "rapports")
    customer, headers = new_customer(edge, "reports")
    before = dashboard(edge, manager)
    assert set(before) == {"generated_at", "today", "stores", "top_products", "low_stock"}, before
    assert set(before["today"]) == {"revenue_cents", "web_orders", "store_sales", "by_channel"}
    orders = before["today"]["web_orders"]
    placed = []
    for index in range(ORDERS):
        cart = cart_with(edge, headers, product, quantity=1 + index % 2)
        response = edge.request("POST", "/api/v1/checkout", headers={
            **headers, "Idempotency-Key": "reports-" + uuid.uuid4().hex},
            body={"cart_id": cart, "shipping_address": ADDRESS,
                  "payment": {"method": "card", "token": "tok_visa"}})
        started = time.monotonic()
        assert response.status == 201, response
        placed.append(response.json()["id"])
        orders += 1
        spent, body = wait_for(edge, manager, orders, started)
        assert spent < FRESH_S, "order %d showed after %.3f s" % (index, spent)
    revenue, _, count = web_today()
    assert body["today"]["web_orders"] == count, (body["today"], count)
    assert body["today"]["by_channel"]["web"] == revenue, (body["today"], revenue)
    assert body["today"]["revenue_cents"] == revenue + body["today"]["by_channel"]["store"]
    #  The fresh product is among the top products of the 7 days, with what it sold.
    top = {row["product_id"]: row for row in body["top_products"]}
    if product in top:
        assert top[product]["quantity"] == sum(1 + index % 2 for index in range(ORDERS)), top[product]

    #  A cancel takes the order off its day within a second.
    response = edge.request("POST", "/api/v1/orders/%d/cancel" % placed[0], headers=headers, body={})
    started = time.monotonic()
    assert response.status == 200, response
    spent, body = wait_for(edge, manager, orders - 1, started)
    assert spent < FRESH_S, "the cancel showed after %.3f s" % spent
    revenue, tax, count = web_today()
    assert body["today"]["web_orders"] == count
    assert body["today"]["by_channel"]["web"] == revenue

    #  The sales report by channel for today says the same, taxes included.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    response = edge.get("/api/v1/reports/sales?from=%s&to=%s&group_by=channel" % (today, today),
                        headers=manager)
    assert response.status == 200, response
    rows = {row["key"]: row for row in response.json()["data"]}
    assert rows["web"]["revenue_cents"] == revenue and rows["web"]["tax_cents"] == tax, rows
    assert rows["web"]["orders_or_sales"] == count, rows
    assert customer["id"]


def reporting_pid():
    """The pid of reporting-1 in the supervisor's status file (name pid restarts)."""
    with open(os.environ["COMPTOIR_TEST_SUPERVISOR_STATUS"], encoding="utf-8") as status:
        for line in status:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "reporting-1":
                return int(parts[1])
    raise AssertionError("reporting-1 is not in the supervisor's status")


@SUITE.test
def test_figures_exact_after_reporting_was_killed(edge):
    staff = staff_headers(edge, "admin")
    manager = staff_headers(edge, "manager")
    product, _ = fresh_product(edge, staff, 4, "rapports-kill")
    _, headers = new_customer(edge, "reports")
    killed = reporting_pid()
    os.kill(killed, signal.SIGKILL)
    placed = []
    for _ in range(3):
        cart = cart_with(edge, headers, product)
        response = edge.request("POST", "/api/v1/checkout", headers={
            **headers, "Idempotency-Key": "reports-kill-" + uuid.uuid4().hex},
            body={"cart_id": cart, "shipping_address": ADDRESS,
                  "payment": {"method": "card", "token": "tok_visa"}})
        assert response.status == 201, response
        placed.append(response.json()["id"])
    response = edge.request("POST", "/api/v1/orders/%d/cancel" % placed[1], headers=headers, body={})
    assert response.status == 200, response
    started = time.monotonic()
    while True:
        revenue, _, count = web_today()
        response = edge.get(ROUTES[0], headers=manager)
        if response.status == 200:
            today = response.json()["today"]
            if today["web_orders"] == count and today["by_channel"]["web"] == revenue:
                break
        assert time.monotonic() - started < 20, (response, revenue, count)
        time.sleep(0.1)
    assert reporting_pid() != killed, "reporting-1 was not started again"
    print("  figures exact %.2f s after the last change (reporting restarted)" % (time.monotonic() - started))


def add(sums, day, *figures):
    before = sums.get(day, (0, 0, 0, 0))
    sums[day] = tuple(int(a) + int(b) for a, b in zip(before, figures))


@SUITE.test
def test_sales_report_by_day_equals_the_order_and_sales_databases(edge):
    """Every day of the last four weeks (the demo histories of
    sql/order/seed.sql and sql/sales/seed.sql included): revenue, tax,
    orders and sales, and units, as the order and sales tables say. Web:
    orders confirmed that day and not cancelled since. Store: sales
    completed that day, less the returns made that day (net, tax, units;
    a return does not change the count of sales)."""
    manager = staff_headers(edge, "manager")
    first = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 27 * 86400))
    last = time.strftime("%Y-%m-%d", time.gmtime())
    expected = {}
    for row in sql("order", """
            SELECT to_char ((h.at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), sum (o.subtotal_cents),
                   sum (o.tax_cents), count (*),
                   sum ((SELECT sum (quantity) FROM order_items i WHERE i.order_id = o.id))
              FROM orders o JOIN order_history h ON h.order_id = o.id AND h.status = 'confirmed'
             WHERE o.status <> 'cancelled' AND (h.at AT TIME ZONE 'UTC')::date >= '%s'
             GROUP BY 1""" % first):
        add(expected, *row)
    assert len(expected) >= 1, "no web order in the order database"
    for row in sql("sales", """
            SELECT to_char ((s.completed_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'),
                   sum (s.subtotal_cents - s.discount_cents), sum (s.tax_cents), count (*),
                   sum ((SELECT sum (quantity) FROM sale_items i WHERE i.sale_id = s.id))
              FROM sales s
             WHERE s.status = 'completed' AND (s.completed_at AT TIME ZONE 'UTC')::date >= '%s'
             GROUP BY 1""" % first):
        add(expected, *row)
    for row in sql("sales", """
            SELECT to_char ((r.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'),
                   -sum (r.net_cents), -sum (r.tax_cents), 0,
                   -sum ((SELECT sum (quantity) FROM return_items i WHERE i.return_id = r.id))
              FROM returns r
             WHERE (r.created_at AT TIME ZONE 'UTC')::date >= '%s'
             GROUP BY 1""" % first):
        add(expected, *row)
    expected = {day: figures for day, figures in expected.items() if figures[2] or figures[0]}
    deadline = time.monotonic() + 5
    while True:
        response = edge.get("/api/v1/reports/sales?from=%s&to=%s&group_by=day" % (first, last),
                            headers=manager)
        assert response.status == 200, response
        figures = {row["key"]: (row["revenue_cents"], row["tax_cents"], row["orders_or_sales"],
                                row["quantity"])
                   for row in response.json()["data"] if row["orders_or_sales"] or row["revenue_cents"]}
        if figures == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert figures == expected, sorted(set(figures.items()) ^ set(expected.items()))


@SUITE.test
def test_sales_report_checks_its_query(edge):
    manager = staff_headers(edge, "manager")
    for query in ("from=2026-02-30&to=2026-03-01", "from=2026-03-02&to=2026-03-01",
                  "from=2025-01-01&to=2026-01-02", "group_by=week", "from=26-01-01",
                  "from=2026-01-01T00:00:00Z"):
        error = assert_error(edge.get("/api/v1/reports/sales?" + query, headers=manager),
                             400, "validation_failed")
        assert error["details"], error
    for group_by in ("day", "store", "product", "channel"):
        response = edge.get("/api/v1/reports/sales?group_by=" + group_by, headers=manager)
        assert response.status == 200, response
        body = response.json()
        assert body["meta"]["group_by"] == group_by, body
        for row in body["data"]:
            assert set(row) == {"key", "name", "orders_or_sales", "quantity", "revenue_cents",
                                "tax_cents"}, row
            assert isinstance(row["key"], str), row


@SUITE.test
def test_inventory_report_agrees_with_inventory(edge):
    manager = staff_headers(edge, "manager")
    deadline = time.monotonic() + 10
    while True:
        response = edge.get(ROUTES[2], headers=manager)
        assert response.status == 200, response
        body = response.json()
        units = {row["location_id"]: row["units"] for row in body["locations"]}
        source = {int(location): int(total) for location, total in
                  sql("inventory", "SELECT location_id, sum (on_hand) FROM stock GROUP BY 1")}
        named = all(row["name"] for row in body["locations"])
        if (units == source and named) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert units == source, (units, source)
    assert named, body["locations"]
    assert set(body["turnover"]) == {"days", "cogs_cents", "average_stock_value_cents", "ratio"}
    assert body["total_value_cents"] == sum(row["value_cents"] for row in body["locations"])


if __name__ == "__main__":
    SUITE.run(Edge())
