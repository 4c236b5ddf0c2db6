#!/usr/bin/env python3
"""Chaos: every reporting figure equals the sums of the source databases,
after reporting was held down for 30 s in the middle of the day, and after
a rebuild from zero (issue 8, "Reporting exactness").

Against the test environment (scripts/testenv.sh start; . var/test/env.sh),
whose supervisor runs with the shipped settings of etc/comptoir.cfg.

A scripted day through the edge, in two halves: in each of the three
stores a cashier rings up sales (some lines discounted, split cash and
card payments with change), takes a partial and a full return; new web
customers check out carts with tok_visa, and a couple of orders are
cancelled. Between the halves every new start of reporting-1 is killed
until the supervisor holds it down (restart_intensity + 1 failed starts,
then cooldown_s = 30 s): the dashboard answers 503 meanwhile, and the
second half of the day happens while it is down. Once reporting is back
(by itself), the figures must settle within SETTLE_S, and then:

  - the dashboard: today by channel (revenue, web orders, store sales),
    each store's 7-day revenue, sales and trend, the top products
    (quantity, revenue) and the low stock rows;
  - the sales report by day, store, product and channel over 8 days;
  - the inventory report's units and value at cost per location, its
    total and its alerts;

each equal, to the cent, what SQL sums from the order, sales, inventory
and product databases (sql/reporting/0001_init.sql says what each figure
means: revenue net of discounts without tax or shipping; a return is
taken off its own day; a cancelled order leaves the day it was confirmed).
The feed's metrics on the admin /metrics agree: the events applied by the
new process are exactly those published during the hold, none dropped,
last_seq equals each producer's outbox, and the lag of a sale rung up
after the catch-up is under a second. Then `comptoir-reporting --rebuild`
empties the read models and every answer comes back identical (the same
JSON but generated_at).

Prints PASS:/FAIL: lines, the timings, and `N passed, N failed`; exits 77
(skip) without the test environment.
"""
import datetime
import decimal
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from chaoslib import hold_down, report, summary, supervised, supervisor_status, wait_for  # noqa: E402
from client import (Edge, barcoded_product, keyed, new_customer, open_register, sql,  # noqa: E402
                    staff_headers, store_location)
from test_checkout_races import ADDRESS, cart_with, web_location  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
PROCESS = "reporting-1"
STORES = (1, 2, 3)
PRODUCERS = ("order", "sales", "inventory", "product")
COOLDOWN_S = 30                 # supervisor/cooldown_s, shipped
SETTLE_S = 10.0                 # figures exact this long after reporting answers again
RESUM_S = 2.0                   # the sources' sums read again this often while they differ
REBUILD_S = 60.0                # a replay of the whole history: every suite's events before this one
FRESH_S = 1.0
REPORTS = ["dashboard"] + ["sales_" + group for group in ("day", "store", "product", "channel")] \
    + ["inventory"]


#  --------------------------------------------------------------------------
#  The day, through the edge

class Day:
    """The staff, products, registers and customers of the scripted day,
    and what was done (to return and cancel later)."""

    def __init__(self, edge):
        self.edge = edge
        self.admin = staff_headers(edge, "admin")
        self.manager = staff_headers(edge, "manager")
        self.cashiers = {store: staff_headers(edge, "cashier", store) for store in STORES}
        self.registers = {}
        self.products = {}
        web = web_location(edge)
        for store in STORES:
            self.registers[store], _ = open_register(edge, self.cashiers[store], store)
            location = store_location(edge, store)
            #  Two products per store, one that ends the day low in stock.
            self.products[store] = [barcoded_product(edge, self.admin, 1000 + 250 * store, 400 + store,
                                                     40, location=location)[0],
                                    barcoded_product(edge, self.admin, 2599, 1200, 9,
                                                     location=location)[0]]
        self.web_products = [barcoded_product(edge, self.admin, price, cost, 30, location=web)[0]
                             for price, cost in ((1899, 700), (4550, 2100))]
        self.sales = []
        self.orders = []

    def sell(self, store, lines, card_cents):
        """One sale: lines [(product, quantity, discount %)], card_cents by card
        (tok_visa) and the rest in cash, rounded up to the next 20.00 (change)."""
        items = [dict({"product_id": product, "quantity": quantity},
                      **({"discount_percent": discount} if discount else {}))
                 for product, quantity, discount in lines]
        payments = [{"method": "cash", "amount_cents": 10 ** 6}]
        if card_cents:
            payments.append({"method": "credit_card", "amount_cents": card_cents, "card_token": "tok_visa"})
        response = self.edge.request("POST", "/api/v1/sales", headers=keyed(self.cashiers[store]),
                                     body={"register_id": self.registers[store], "items": items,
                                           "payments": payments})
        assert response.status == 201, response
        sale = response.json()
        assert sale["change_cents"] == 10 ** 6 + card_cents - sale["total_cents"], sale
        self.sales.append(sale)
        return sale

    def give_back(self, sale, lines):
        """A return of lines [(product, quantity)] of a sale, refunded."""
        response = self.edge.request("POST", "/api/v1/sales/%d/returns" % sale["id"],
                                     headers=keyed(self.cashiers[sale["store_id"]]),
                                     body={"items": [{"product_id": product, "quantity": quantity}
                                                     for product, quantity in lines],
                                           "reason": "exactness"})
        assert response.status == 201, response

    def order(self, customer, lines):
        """The customer checks out a cart of lines [(product, quantity)]: (id, headers)."""
        cart = cart_with(self.edge, customer, lines[0][0], lines[0][1])
        for product, quantity in lines[1:]:
            response = self.edge.request("POST", "/api/v1/carts/%s/items" % cart, headers=customer,
                                         body={"product_id": product, "quantity": quantity})
            assert response.status == 201, response
        response = self.edge.request("POST", "/api/v1/checkout", headers=keyed(customer),
                                     body={"cart_id": cart, "shipping_address": ADDRESS,
                                           "payment": {"method": "card", "token": "tok_visa"}})
        assert response.status == 201, response
        self.orders.append((response.json()["id"], customer))
        return self.orders[-1]

    def cancel(self, order):
        response = self.edge.request("POST", "/api/v1/orders/%d/cancel" % order[0], headers=order[1],
                                     body={})
        assert response.status == 200, response

    def half(self, second):
        """Half a day: in each store three sales and two returns; a new web
        customer places three orders, one cancelled (and, in the second
        half, one of the first half's)."""
        for store in STORES:
            cheap, dear = self.products[store]
            split = self.sell(store, [(cheap, 3, 10), (dear, 1, 0)], card_cents=2000)
            whole = self.sell(store, [(cheap, 2, 0)], card_cents=0)
            self.sell(store, [(dear, 2, 5 * store), (cheap, 1, 20)], card_cents=500 * store)
            self.give_back(split, [(cheap, 1)])                 # partial
            self.give_back(whole, [(cheap, 2)])                 # full
        first, dear = self.web_products
        _, customer = new_customer(self.edge, "exact")
        orders = [self.order(customer, [(first, 1 + second)]),
                  self.order(customer, [(first, 2), (dear, 1)]), self.order(customer, [(dear, 1)])]
        self.cancel(orders[2])
        if second:
            self.cancel(self.orders[1])                         # a first-half order


#  --------------------------------------------------------------------------
#  The figures as the source databases say

def iso(day):
    return day.strftime("%Y-%m-%d")


def source_facts(first):
    """From the sources, since the day first (a date): the channel rows
    [(day, channel, store, count, quantity, revenue, tax)] and the product
    rows [(day, product, count, quantity, revenue, tax)] of every web order
    (confirmed that day, not cancelled since), sale and return."""
    channel, product = [], []
    orders = {}
    for day, order, subtotal, tax, item, quantity, line in sql("order", """
            SELECT to_char ((h.at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), o.id, o.subtotal_cents,
                   o.tax_cents, i.product_id, i.quantity, i.line_total_cents
              FROM orders o JOIN order_history h ON h.order_id = o.id AND h.status = 'confirmed'
                   JOIN order_items i ON i.order_id = o.id
             WHERE o.status <> 'cancelled' AND (h.at AT TIME ZONE 'UTC')::date >= '%s'
             ORDER BY o.id, i.product_id""" % iso(first)):
        orders.setdefault(int(order), (day, int(subtotal), int(tax), []))[3].append(
            (int(item), int(quantity), int(line)))
    for day, subtotal, tax, items in orders.values():
        channel.append((day, "web", 0, 1, sum(q for _, q, _ in items), subtotal, tax))
        #  The order's tax spread over its lines as sql/reporting does it.
        spread = 0
        for index, (item, quantity, line) in enumerate(items):
            share = tax - spread if index == len(items) - 1 else (tax * line // subtotal if subtotal else 0)
            spread += share
            product.append((day, item, 1, quantity, line, share))
    for kind, count, table, items, at, link in (
            ("sale", 1, "sales", "sale_items", "completed_at", "sale_id"),
            ("return", 0, "returns", "return_items", "created_at", "return_id")):
        sign = 1 if count else -1
        where = "s.status = 'completed' AND " if kind == "sale" else ""
        documents = {}
        for day, document, store, tax, item, quantity, net, item_tax in sql("sales", """
                SELECT to_char ((s.%s AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), s.id, s.store_id,
                       s.tax_cents, i.product_id, i.quantity, i.net_cents, i.tax_cents
                  FROM %s s JOIN %s i ON i.%s = s.id
                 WHERE %s(s.%s AT TIME ZONE 'UTC')::date >= '%s'""" % (
                    at, table, items, link, where, at, iso(first))):
            documents.setdefault(int(document), [day, int(store), int(tax), 0, 0])
            documents[int(document)][3] += int(quantity)
            documents[int(document)][4] += int(net)
            product.append((day, int(item), count, sign * int(quantity), sign * int(net), sign * int(item_tax)))
        for day, store, tax, quantity, net in documents.values():
            channel.append((day, "store", store, count, sign * quantity, sign * net, sign * tax))
    return channel, product


def grouped(rows, key, first, last):
    """{key(row): [count, quantity, revenue, tax]} of the rows between first and last (ISO days)."""
    sums = {}
    for row in rows:
        if first <= row[0] <= last:
            figures = sums.setdefault(key(row), [0, 0, 0, 0])
            for index, value in enumerate(row[-4:]):
                figures[index] += value
    return sums


def report_rows(sums, name=lambda key: None):
    """The sales report's rows from grouped sums, in its order, without the
    rows whose figures are all 0 (a product whose only order was cancelled)."""
    return [{"key": str(key), "name": name(key), "orders_or_sales": figures[0], "quantity": figures[1],
             "revenue_cents": figures[2], "tax_cents": figures[3]}
            for key, figures in sorted(sums.items()) if any(figures)]


def low_stock(catalog, stock):
    """The low stock rows from the sources, lowest first: a stock row of
    the inventory database is low when its available is at or below the
    row's own threshold (what GET /inventory/alerts says, and what
    stock.changed tells reporting); inactive products left out."""
    rows = []
    for (product, location), (_, available, threshold) in stock.items():
        known = catalog.get(product)
        if available <= threshold and (not known or known["active"]):
            rows.append((available, product, location, threshold))
    return [{"product_id": product, "name": catalog[product]["name"] if product in catalog else None,
             "location_id": location, "available": available, "alert_threshold": threshold,
             "level": "out" if available == 0 else "low"}
            for available, product, location, threshold in sorted(rows)]


def trend(revenue, before):
    if before <= 0:
        return None
    value = (decimal.Decimal(revenue - before) * 100 / before).quantize(decimal.Decimal("0.1"),
                                                                        decimal.ROUND_HALF_UP)
    return float(value)


def expected(locations):
    """Every figure checked, as the sources say, in the reports' shapes."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    first = today - datetime.timedelta(days=13)
    channel, product = source_facts(first)
    catalog = {int(i): {"name": n, "cost": int(c), "threshold": int(t), "active": a == "t"}
               for i, n, c, t, a in sql("product", "SELECT id, name, cost_cents, alert_threshold, active"
                                                   "  FROM products")}
    names = {i: row["name"] for i, row in catalog.items()}
    stock = {(int(p), int(l)): (int(h), int(a), int(t)) for p, l, h, a, t in sql("inventory", """
             SELECT product_id, location_id, on_hand, available, alert_threshold FROM stock""")}
    low = low_stock(catalog, stock)
    stores = {l["store_id"]: l["name"] for l in locations.values() if l.get("store_id")}
    t, week, fortnight = iso(today), iso(today - datetime.timedelta(days=6)), iso(first)
    last_week = iso(today - datetime.timedelta(days=7))
    day = grouped(channel, lambda r: r[1], t, t)
    zero = [0, 0, 0, 0]
    figures = {"today": {"revenue_cents": day.get("web", zero)[2] + day.get("store", zero)[2],
                         "web_orders": day.get("web", zero)[0],
                         "store_sales": day.get("store", zero)[0],
                         "by_channel": {"web": day.get("web", zero)[2],
                                        "store": day.get("store", zero)[2]}}}
    recent = grouped([r for r in channel if r[1] == "store"], lambda r: r[2], week, t)
    before = grouped([r for r in channel if r[1] == "store"], lambda r: r[2], fortnight, last_week)
    figures["stores"] = [{"store_id": store, "name": stores.get(store),
                          "revenue_7d_cents": recent.get(store, zero)[2],
                          "sales_7d": recent.get(store, zero)[0],
                          "trend_pct": trend(recent.get(store, zero)[2], before.get(store, zero)[2])}
                         for store in sorted(set(stores) | set(recent) | set(before))]
    top = grouped(product, lambda r: r[1], week, t)
    ranked = sorted(((-f[2], p) for p, f in top.items() if f[1] > 0 or f[2] > 0))[:10]
    figures["top_products"] = [{"product_id": p, "name": names.get(p), "quantity": top[p][1],
                                "revenue_cents": top[p][2]} for _, p in ranked]
    figures["low_stock"] = low[:20]
    eight = iso(today - datetime.timedelta(days=7))
    figures["sales_day"] = report_rows(grouped(channel, lambda r: r[0], eight, t))
    by_store = grouped(channel, lambda r: -1 if r[1] == "web" else r[2], eight, t)
    figures["sales_store"] = [dict(row, key="web" if row["key"] == "-1" else row["key"],
                                   name="Web" if row["key"] == "-1" else stores.get(int(row["key"])))
                              for row in report_rows(by_store)]
    figures["sales_product"] = report_rows(grouped(product, lambda r: r[1], eight, t), names.get)
    figures["sales_channel"] = report_rows(grouped(channel, lambda r: r[1], eight, t))
    value = {}
    for (item, location), (on_hand, _, _) in stock.items():
        units, cents = value.get(location, (0, 0))
        value[location] = (units + on_hand, cents + on_hand * (catalog[item]["cost"] if item in catalog else 0))
    figures["inventory"] = {
        "locations": [{"location_id": location, "name": locations[location]["name"],
                       "units": units, "value_cents": cents}
                      for location, (units, cents) in sorted(value.items())],
        "total_value_cents": sum(cents for _, cents in value.values()),
        "alerts": low[:100]}
    return figures, eight, t


def answers(edge, manager, eight, today):
    """The raw answers of the three report routes (None for one that is not 200)."""
    found = {}
    for name in REPORTS:
        if name == "dashboard":
            path = "/api/v1/reports/dashboard"
        elif name == "inventory":
            path = "/api/v1/reports/inventory"
        else:
            path = "/api/v1/reports/sales?from=%s&to=%s&group_by=%s" % (eight, today, name[6:])
        response = edge.get(path, headers=manager)
        found[name] = response.json() if response.status == 200 else None
        if found[name]:
            found[name].pop("generated_at", None)
    return found


def figures_of(found):
    """The figures of the answers, in the shapes expected() builds."""
    if any(answer is None for answer in found.values()):
        return None
    board = found["dashboard"]
    figures = {name: board[name] for name in ("today", "stores", "top_products", "low_stock")}
    for name in REPORTS[1:5]:
        figures[name] = [row for row in found[name]["data"]
                         if row["orders_or_sales"] or row["quantity"] or row["revenue_cents"]
                         or row["tax_cents"]]
    stock = found["inventory"]
    figures["inventory"] = {"locations": [{key: row[key] for key in ("location_id", "name", "units",
                                                                     "value_cents")}
                                          for row in stock["locations"]],
                            "total_value_cents": stock["total_value_cents"], "alerts": stock["alerts"]}
    return figures


def differences(want, got):
    """The names of the figures that differ, with both sides (short)."""
    if got is None:
        return {"answers": "a report route did not answer 200"}
    return {name: (str(want[name])[:600], str(got.get(name))[:600])
            for name in want if want[name] != got.get(name)}


def settle(edge, day, locations, seconds, sums=None):
    """Poll the reports until every figure equals what expected() reads
    from the sources (sums, when already read): (seconds it took,
    differences left, the answers). The sums are read again each
    RESUM_S while they differ, in case a source still moves (a saga an
    earlier suite left to its recovery)."""
    started = summed = time.monotonic()
    want, eight, today = sums or expected(locations)
    while True:
        found = answers(edge, day.manager, eight, today)
        left = differences(want, figures_of(found))
        spent = time.monotonic() - started
        if not left or spent > seconds:
            return spent, left, found
        if time.monotonic() - summed > RESUM_S:
            want, eight, today = expected(locations)
            summed = time.monotonic()
        time.sleep(0.1)

#  --------------------------------------------------------------------------
#  The feed's metrics

def feed_metrics(edge):
    """{(metric, producer): value} of comptoir_reporting_* on the admin /metrics."""
    response = edge.get("/metrics", admin=True)
    assert response.status == 200, response
    series = {}
    for line in response.body.decode("utf-8", "replace").splitlines():
        match = re.match(r'(comptoir_reporting_\w+)\{process="%s",producer="(\w+)"\} (\S+)$' % PROCESS, line)
        if match:
            series[(match.group(1), match.group(2))] = float(match.group(3))
    return series


def metrics_at(edge, published):
    """The feed's metrics once its last_seq is each producer's last published
    seq (the feed pushes its metrics after each catch-up), waiting 3 s at most."""
    def caught_up():
        metrics = feed_metrics(edge)
        return metrics if all(metrics.get(("comptoir_reporting_last_seq", producer)) == seq
                              for producer, seq in published.items()) else None
    return wait_for(caught_up, 3, 0.2) or feed_metrics(edge)


def counted(metrics, producer):
    """Events the feed applied or dropped for producer since its process started."""
    return metrics.get(("comptoir_reporting_events_applied_total", producer), 0) \
        + metrics.get(("comptoir_reporting_events_dropped_total", producer), 0)


def outbox_seqs():
    return {producer: int(sql(producer, "SELECT COALESCE (max (seq), 0) FROM outbox")[0][0])
            for producer in PRODUCERS}


def cursors():
    return {producer: int(seq) for producer, seq in sql("reporting",
                                                         "SELECT producer, last_seq FROM feed_cursors")}


def check_figures(name, spent, left):
    report(name, not left, "%.2f s" % spent if not left else str(left)[:3000])


def main():
    status_path = supervisor_status()
    if status_path is None:
        return 77
    edge = Edge()
    ready = wait_for(lambda: edge.get("/ready").status == 200, 60, 0.5)
    report("system_ready_before", ready)
    if not ready or PROCESS not in supervised(status_path):
        return summary()
    locations = {l["id"]: l for l in edge.get("/api/v1/locations").json()["data"]}
    day = Day(edge)

    #  First half of the day, reporting up.
    day.half(second=False)
    spent, left, _ = settle(edge, day, locations, SETTLE_S)
    check_figures("first_half_figures_equal_the_sources", spent, left)

    #  Reporting held down by the supervisor, with the shipped settings.
    held, killed = hold_down(status_path, PROCESS)
    held_at = time.monotonic()
    report("reporting_held_after_too_many_failed_starts", held is not None,
           "%d kills, %s" % (len(killed), held))
    if held is None:
        return summary()
    at_hold = cursors()
    response = wait_for(lambda: (lambda r: r if r.status == 503 else None)(
        edge.get("/api/v1/reports/dashboard", headers=day.manager)), 5, 0.2)
    report("dashboard_answers_503_while_held",
           bool(response) and response.json()["error"]["code"] == "service_unavailable", str(response))

    #  Second half of the day, while it is down.
    day.half(second=True)
    state = supervised(status_path)[PROCESS]
    report("second_half_while_reporting_is_down", state[2] == "held",
           "%.1f s into the hold, %s" % (time.monotonic() - held_at, state))
    sums = expected(locations)

    #  Back by itself after the cool-down; the figures catch up.
    back = wait_for(lambda: edge.get("/api/v1/reports/dashboard", headers=day.manager).status == 200,
                    COOLDOWN_S + 30, 0.1)
    back_at = time.monotonic()
    report("reporting_back_by_itself_after_the_cool_down",
           bool(back) and back_at - held_at >= COOLDOWN_S - 1, "%.1f s after the hold" % (back_at - held_at))
    spent, left, _ = settle(edge, day, locations, SETTLE_S, sums)
    check_figures("figures_equal_the_sources_after_the_hold", spent, left)
    print("  caught up %.2f s after reporting answered again (%.1f s held)" % (spent, back_at - held_at),
          flush=True)

    #  What the new process applied: exactly what was published meanwhile.
    published = outbox_seqs()
    metrics = metrics_at(edge, published)
    report("metrics_applied_are_the_events_published_during_the_hold",
           all(metrics.get(("comptoir_reporting_events_applied_total", p)) == published[p] - at_hold[p]
               for p in PRODUCERS) and all(at_hold[p] < published[p] for p in ("order", "sales", "inventory")),
           "applied %s, published %s, cursors at the hold %s" % (
               {p: metrics.get(("comptoir_reporting_events_applied_total", p)) for p in PRODUCERS},
               published, at_hold))
    report("metrics_none_dropped_last_seq_is_the_outbox",
           all(metrics.get(("comptoir_reporting_events_dropped_total", p)) == 0
               and metrics.get(("comptoir_reporting_last_seq", p)) == published[p] for p in PRODUCERS),
           str(metrics))

    #  One more sale: on the dashboard within a second, the lag under a second.
    sales_before = metrics.get(("comptoir_reporting_events_applied_total", "sales"))
    store_sales = edge.get("/api/v1/reports/dashboard", headers=day.manager).json()["today"]["store_sales"]
    cheap = day.products[1][0]
    day.sell(1, [(cheap, 1, 0)], card_cents=0)
    sold_at = time.monotonic()
    shown = wait_for(lambda: edge.get("/api/v1/reports/dashboard", headers=day.manager).json()
                     ["today"]["store_sales"] == store_sales + 1, 5, 0.02)
    shown_in = time.monotonic() - sold_at
    report("a_sale_after_the_catch_up_shows_within_a_second", bool(shown) and shown_in < FRESH_S,
           "%.3f s" % shown_in)
    published = outbox_seqs()
    metrics = metrics_at(edge, published)
    lag = metrics.get(("comptoir_reporting_lag_seconds", "sales"))
    applied = metrics.get(("comptoir_reporting_events_applied_total", "sales"))
    report("metrics_applied_grows_and_lag_is_small",
           applied == published["sales"] - at_hold["sales"] and applied > sales_before
           and lag is not None and 0 <= lag < FRESH_S,
           "applied %s -> %s, lag %s s" % (sales_before, applied, lag))
    spent, left, before = settle(edge, day, locations, SETTLE_S)
    check_figures("figures_equal_the_sources_at_the_end_of_the_day", spent, left)

    #  Rebuilt from zero: every answer the same.
    out = subprocess.run([os.path.join(ROOT, "actors", "reporting", "comptoir-reporting"), "--config",
                          os.environ["COMPTOIR_TEST_CONFIG"], "--rebuild"],
                         capture_output=True, text=True, timeout=60, check=False)
    rebuilt_at = time.monotonic()
    report("rebuild_runs", out.returncode == 0, out.stderr[-500:])
    today = datetime.datetime.now(datetime.timezone.utc).date()
    eight, t = iso(today - datetime.timedelta(days=7)), iso(today)
    again = wait_for(lambda: (lambda found: found if found == before else None)(
        answers(edge, day.manager, eight, t)), REBUILD_S, 0.5)
    rebuilt_in = time.monotonic() - rebuilt_at
    after = again or answers(edge, day.manager, eight, t)
    report("every_answer_identical_after_a_rebuild_from_zero", bool(again),
           "%.2f s" % rebuilt_in if again else str({name: (str(before[name])[:400], str(after[name])[:400])
                                                   for name in REPORTS if before[name] != after[name]}))
    print("  rebuilt from zero and identical after %.2f s" % rebuilt_in, flush=True)
    #  The replay counted: every event of every producer once more.
    metrics = metrics_at(edge, published)
    report("metrics_count_the_replay_from_seq_1",
           all(counted(metrics, p) == published[p] - at_hold[p] + published[p] for p in PRODUCERS),
           "counted %s, published %s, cursors at the hold %s" % (
               {p: counted(metrics, p) for p in PRODUCERS}, published, at_hold))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
