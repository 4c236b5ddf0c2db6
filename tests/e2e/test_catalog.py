#!/usr/bin/env python3
"""End-to-end tests of the Catalog routes of API.md, through the edge to the
real product workers and their database (demo seed loaded by testenv).
Needs a live system (scripts/testenv.sh); exits 77 without one."""

import os
import random
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Suite, assert_error, staff_headers  # noqa: E402

#  cost_cents only in a manager's write answers: public reads are cached
#  and served to every consumer alike, and a unit cost is not for shoppers.
PRODUCT_FIELDS = {"id", "sku", "name", "description", "price_cents", "category",
                  "alert_threshold", "active", "created_at", "updated_at", "barcode"}

#  A demo product's barcode (sql/product/seed.sql: 0628 + category 01 and
#  SKU 1001 + check digit).
SEED_BARCODE = "0628000110019"

suite = Suite()


def products(edge, **query):
    response = edge.get("/api/v1/products?" + urllib.parse.urlencode(query))
    assert response.status == 200, response
    body = response.json()
    assert set(body) == {"data", "meta"}, body.keys()
    return body


def check_product(product, written=False):
    fields = PRODUCT_FIELDS | ({"cost_cents"} if written else set())
    assert set(product) == fields, set(product) ^ fields
    assert isinstance(product["id"], int) and product["id"] > 0
    assert isinstance(product["price_cents"], int) and product["price_cents"] > 0
    assert isinstance(product["category"], dict)
    assert set(product["category"]) >= {"id", "name"}
    assert product["created_at"].endswith("Z") and "T" in product["created_at"]
    if written:
        assert isinstance(product["cost_cents"], int) and product["cost_cents"] >= 0, product
    barcode = product["barcode"]
    assert barcode is None or (isinstance(barcode, str) and ean13_valid(barcode)), product


def ean13_valid(code):
    """13 digits whose weighted sum (1, 3, 1, 3... from the left) is a multiple of 10."""
    return (len(code) == 13 and code.isdigit()
            and sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(code)) % 10 == 0)


def new_barcode():
    """A random valid EAN-13 outside the demo catalog's 0628 range."""
    body = "0779" + "".join(random.choice("0123456789") for _ in range(8))
    weighted = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - weighted % 10) % 10)


@suite.test
def test_categories_list(edge):
    response = edge.get("/api/v1/categories")
    assert response.status == 200, response
    body = response.json()
    assert isinstance(body["data"], list) and body["data"], body
    for category in body["data"]:
        assert {"id", "name", "description"} <= set(category), category
        assert isinstance(category["id"], int)


@suite.test
def test_products_are_paged_with_meta(edge):
    first = products(edge, page=1, per_page=5)
    assert first["meta"]["page"] == 1
    assert first["meta"]["per_page"] == 5
    total = first["meta"]["total"]
    assert isinstance(total, int) and total > 5, first["meta"]
    assert len(first["data"]) == 5
    for product in first["data"]:
        check_product(product)
    second = products(edge, page=2, per_page=5)
    assert second["meta"]["page"] == 2 and second["meta"]["total"] == total
    first_ids = {product["id"] for product in first["data"]}
    second_ids = {product["id"] for product in second["data"]}
    assert not first_ids & second_ids, (first_ids, second_ids)
    beyond = products(edge, page=total + 1, per_page=1)
    assert beyond["data"] == [] and beyond["meta"]["total"] == total


@suite.test
def test_products_default_paging(edge):
    body = products(edge)
    assert body["meta"]["page"] == 1
    assert body["meta"]["per_page"] == 20
    assert len(body["data"]) == min(20, body["meta"]["total"])


@suite.test
def test_per_page_is_at_most_100(edge):
    body = products(edge, per_page=100)
    assert body["meta"]["per_page"] == 100
    assert len(body["data"]) == min(100, body["meta"]["total"])
    error = assert_error(edge.get("/api/v1/products?per_page=101"), 400, "validation_failed")
    assert any(detail.get("field") == "per_page" for detail in error["details"]), error
    assert_error(edge.get("/api/v1/products?per_page=0"), 400, "validation_failed")
    assert_error(edge.get("/api/v1/products?page=abc"), 400, "validation_failed")


@suite.test
def test_search_by_q(edge):
    everything = products(edge, per_page=100)["data"]
    word = everything[0]["name"].split()[0]
    found = products(edge, q=word, per_page=100)
    assert found["meta"]["total"] >= 1, word
    assert everything[0]["id"] in {product["id"] for product in found["data"]}
    assert found["meta"]["total"] <= products(edge)["meta"]["total"]
    nothing = products(edge, q="zzzqqqxxx-nothing-matches")
    assert nothing["meta"]["total"] == 0 and nothing["data"] == []
    #  sku is searched too
    sku = everything[1]["sku"]
    by_sku = products(edge, q=sku)
    assert everything[1]["id"] in {product["id"] for product in by_sku["data"]}, sku


@suite.test
def test_filter_by_category(edge):
    categories = edge.get("/api/v1/categories").json()["data"]
    seen = 0
    for category in categories:
        body = products(edge, category_id=category["id"], per_page=100)
        for product in body["data"]:
            assert product["category"]["id"] == category["id"], (category, product)
        seen += body["meta"]["total"]
    assert seen == products(edge)["meta"]["total"]
    assert_error(edge.get("/api/v1/products?category_id=abc"), 400, "validation_failed")


@suite.test
def test_filter_by_price(edge):
    body = products(edge, min_price_cents=1000, max_price_cents=3000, per_page=100)
    assert body["meta"]["total"] >= 1
    for product in body["data"]:
        assert 1000 <= product["price_cents"] <= 3000, product
    cheap = products(edge, max_price_cents=999, per_page=100)
    for product in cheap["data"]:
        assert product["price_cents"] <= 999, product
    assert_error(edge.get("/api/v1/products?min_price_cents=cheap"), 400, "validation_failed")


@suite.test
def test_sort_by_price(edge):
    ascending = [p["price_cents"] for p in products(edge, sort="price", per_page=100)["data"]]
    assert ascending == sorted(ascending), ascending
    descending = [p["price_cents"] for p in products(edge, sort="-price", per_page=100)["data"]]
    assert descending == sorted(descending, reverse=True), descending
    assert len(ascending) > 1
    assert_error(edge.get("/api/v1/products?sort=colour"), 400, "validation_failed")


@suite.test
def test_product_by_id(edge):
    listed = products(edge, per_page=1)["data"][0]
    response = edge.get("/api/v1/products/%d" % listed["id"])
    assert response.status == 200, response
    product = response.json()
    check_product(product)
    assert product == listed, (product, listed)


@suite.test
def test_product_by_sku(edge):
    listed = products(edge, per_page=2, page=2)["data"][0]
    response = edge.get("/api/v1/products/sku/" + urllib.parse.quote(listed["sku"]))
    assert response.status == 200, response
    product = response.json()
    check_product(product)
    assert product["id"] == listed["id"] and product["sku"] == listed["sku"]


@suite.test
def test_unknown_product_is_404(edge):
    assert_error(edge.get("/api/v1/products/999999999"), 404, "not_found")
    assert_error(edge.get("/api/v1/products/sku/NO-SUCH-SKU-42"), 404, "not_found")


@suite.test
def test_product_id_must_be_a_positive_integer(edge):
    for bad in ("abc", "0", "-1", "1.5", "99999999999999999999999"):
        error = assert_error(edge.get("/api/v1/products/" + bad), 400, "validation_failed")
        assert any(detail.get("field") == "id" for detail in error["details"]), (bad, error)


@suite.test
def test_product_by_barcode(edge):
    response = edge.get("/api/v1/products/barcode/" + SEED_BARCODE)
    assert response.status == 200, response
    product = response.json()
    check_product(product)
    assert product["barcode"] == SEED_BARCODE and product["sku"] == "CAF-1001", product
    by_sku = edge.get("/api/v1/products/sku/CAF-1001").json()
    assert by_sku == product, (by_sku, product)
    #  every demo product has a barcode of its own
    everything = products(edge, per_page=100)["data"]
    codes = [listed["barcode"] for listed in everything if listed["sku"][4:].isdigit()
             and len(listed["sku"]) == 8]
    assert len(codes) >= 50 and all(codes) and len(set(codes)) == len(codes), codes


@suite.test
def test_unknown_barcode_is_404_and_a_bad_one_400(edge):
    assert_error(edge.get("/api/v1/products/barcode/" + new_barcode()), 404, "not_found")
    wrong_check_digit = SEED_BARCODE[:12] + str((int(SEED_BARCODE[12]) + 1) % 10)
    for bad in (wrong_check_digit, SEED_BARCODE[:12], SEED_BARCODE + "0", "06280001100l9",
                urllib.parse.quote("0628 00011001"), "%27%20OR%201%3D1"):
        error = assert_error(edge.get("/api/v1/products/barcode/" + bad), 400, "validation_failed")
        assert any(detail.get("field") == "barcode" for detail in error["details"]), (bad, error)


@suite.test
def test_barcode_route_is_cached_like_the_sku_route(edge):
    path = "/api/v1/products/barcode/%s?e2e=%s" % (SEED_BARCODE, uuid.uuid4().hex)
    assert edge.get(path).header("X-Cache") == "MISS"
    hit = edge.get(path)
    assert hit.status == 200 and hit.header("X-Cache") == "HIT", hit.headers


@suite.test
def test_barcode_and_cost_round_trip_through_post_and_put(edge):
    manager = staff_headers(edge, "manager")
    category = edge.get("/api/v1/categories").json()["data"][0]["id"]
    barcode = new_barcode()
    sku = "E2E-EAN-" + uuid.uuid4().hex[:8]
    response = edge.request("POST", "/api/v1/products", headers=manager, body={
        "name": "Sous-verre e2e", "sku": sku, "price_cents": 1500, "category_id": category,
        "barcode": barcode, "cost_cents": 700})
    assert response.status == 201, response
    created = response.json()
    check_product(created, written=True)
    assert created["barcode"] == barcode and created["cost_cents"] == 700, created
    path = "/api/v1/products/%d" % created["id"]
    try:
        found = edge.get("/api/v1/products/barcode/" + barcode).json()
        assert found["id"] == created["id"] and "cost_cents" not in found, found
        #  PUT changes them, and only them
        other = new_barcode()
        response = edge.request("PUT", path, headers=manager, body={"barcode": other, "cost_cents": 650})
        assert response.status == 200, response
        changed = response.json()
        assert changed["barcode"] == other and changed["cost_cents"] == 650, changed
        assert changed["price_cents"] == 1500 and changed["sku"] == created["sku"], changed
        assert edge.get(path).json()["barcode"] == other
        assert_error(edge.get("/api/v1/products/barcode/" + barcode), 404, "not_found")
        #  bad values, another product's barcode
        error = assert_error(edge.request("PUT", path, headers=manager,
                                          body={"barcode": other[:12] + str((int(other[12]) + 1) % 10)}),
                             400, "validation_failed")
        assert any(detail.get("field") == "barcode" for detail in error["details"]), error
        error = assert_error(edge.request("PUT", path, headers=manager, body={"cost_cents": -1}),
                             400, "validation_failed")
        assert any(detail.get("field") == "cost_cents" for detail in error["details"]), error
        assert_error(edge.request("PUT", path, headers=manager, body={"barcode": SEED_BARCODE}),
                     409, "conflict")
        assert_error(edge.request("POST", "/api/v1/products", headers=manager, body={
            "name": "Doublon e2e", "price_cents": 1500, "category_id": category, "barcode": other}),
            409, "conflict")
        #  a cashier reads but does not write them
        cashier = staff_headers(edge, "cashier")
        assert_error(edge.request("PUT", path, headers=cashier, body={"cost_cents": 1}), 403, "forbidden")
        #  null takes the barcode away
        response = edge.request("PUT", path, headers=manager, body={"barcode": None})
        assert response.status == 200 and response.json()["barcode"] is None, response
        assert response.json()["cost_cents"] == 650, response
        #  the public read never shows the cost, not even to the manager
        assert "cost_cents" not in edge.get(path, headers=manager).json()
    finally:
        assert edge.request("DELETE", path, headers=manager).status == 204


#  The edge's response cache (routes.cfg: cache_ttl_ms = 1000 on the
#  catalog reads). Each test reads under a query of its own (the product
#  context ignores unknown query parameters), so that no other test or
#  suite has filled the entry before it.

CACHE_TTL_S = 1.0


def cached_path(edge):
    listed = products(edge, per_page=1)["data"][0]
    return "/api/v1/products/%d?e2e=%s" % (listed["id"], uuid.uuid4().hex)


@suite.test
def test_second_read_is_a_cache_hit_with_the_same_body(edge):
    path = cached_path(edge)
    first = edge.get(path)
    assert first.status == 200, first
    assert first.header("X-Cache") == "MISS", first.headers
    assert first.header("Age") is None, first.headers
    second = edge.get(path)
    assert second.status == 200, second
    assert second.header("X-Cache") == "HIT", second.headers
    assert second.body == first.body
    assert second.header("Content-Type") == first.header("Content-Type")
    assert int(second.header("Age")) in (0, 1), second.headers
    #  Every answer has its own request id, a hit too
    assert second.header("X-Request-ID") != first.header("X-Request-ID")
    third = edge.get(path, headers={"X-Request-ID": "e2e-cache-hit"})
    assert third.header("X-Cache") == "HIT" and third.header("X-Request-ID") == "e2e-cache-hit"


@suite.test
def test_cache_entry_expires_after_its_ttl(edge):
    path = cached_path(edge)
    assert edge.get(path).header("X-Cache") == "MISS"
    assert edge.get(path).header("X-Cache") == "HIT"
    time.sleep(CACHE_TTL_S + 0.3)
    again = edge.get(path)
    assert again.status == 200, again
    assert again.header("X-Cache") == "MISS", again.headers


@suite.test
def test_cache_never_bypasses_the_api_key(edge):
    path = cached_path(edge)
    assert edge.get(path).status == 200
    assert edge.get(path).header("X-Cache") == "HIT"
    response = edge.get(path, key=False)
    assert_error(response, 401, "unauthorized")
    assert response.header("X-Cache") is None, response.headers
    assert_error(edge.get(path, key="wrong-key-0123456789abcdef"), 401, "unauthorized")


@suite.test
def test_every_catalog_read_is_cached_and_errors_are_not(edge):
    tag = uuid.uuid4().hex
    listed = products(edge, per_page=1)["data"][0]
    for path in ("/api/v1/categories?e2e=" + tag, "/api/v1/products?e2e=" + tag,
                 "/api/v1/products/sku/%s?e2e=%s" % (urllib.parse.quote(listed["sku"]), tag)):
        assert edge.get(path).header("X-Cache") == "MISS", path
        assert edge.get(path).header("X-Cache") == "HIT", path
    for round in range(2):
        response = edge.get("/api/v1/products/999999999?e2e=" + tag)
        assert_error(response, 404, "not_found")
        assert response.header("X-Cache") == "MISS", response.headers
    #  Routes without cache_ttl_ms say nothing about the cache
    assert edge.get("/health", key=False).header("X-Cache") is None


@suite.test
def test_cache_metrics_count_hits_and_misses(edge):
    path = cached_path(edge)
    edge.get(path)
    edge.get(path)
    text = edge.get("/metrics", key=False, admin=True).body.decode("utf-8")
    assert 'comptoir_edge_cache_hits_total{route="/api/v1/products/{id}"}' in text, text[:3000]
    assert 'comptoir_edge_cache_misses_total{route="/api/v1/products/{id}"}' in text
    assert "\ncomptoir_edge_cache_entries " in text
    assert 'comptoir_edge_cache_evictions_total{reason="capacity"}' in text


if __name__ == "__main__":
    suite.run(Edge())
