#!/usr/bin/env python3
"""End-to-end tests of the HTTP edge: operations routes, request ids, API
keys, the error shape, body checks, admin port. Needs a live system
(scripts/testenv.sh); exits 77 without one."""

import concurrent.futures
import os
import re
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Edge, Response, Suite, assert_error  # noqa: E402

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DEFAULT_BODY_LIMIT = 1048576

suite = Suite()


def body_limit():
    """edge/body_limit of the test configuration (environment first)."""
    if os.environ.get("COMPTOIR_EDGE_BODY_LIMIT"):
        return int(os.environ["COMPTOIR_EDGE_BODY_LIMIT"])
    config = os.environ.get("COMPTOIR_TEST_CONFIG")
    if config and os.path.exists(config):
        section = None
        for line in open(config, encoding="utf-8"):
            if line and not line[0].isspace() and not line.startswith("#"):
                section = line.strip()
            match = re.match(r"^\s+body_limit\s*=\s*\"?(\d+)", line)
            if section == "edge" and match:
                return int(match.group(1))
    return DEFAULT_BODY_LIMIT


@suite.test
def test_health_answers_ok_without_a_key(edge):
    response = edge.get("/health", key=False)
    assert response.status == 200, response
    assert response.json() == {"status": "ok"}
    assert response.header("Content-Type") == "application/json"


@suite.test
def test_ready_when_broker_and_product_workers_answer(edge):
    response = edge.get("/ready", key=False)
    assert response.status == 200, response
    assert response.json() == {"status": "ok"}


@suite.test
def test_request_id_is_generated_as_uuid4(edge):
    first = edge.get("/health", key=False).header("X-Request-ID")
    second = edge.get("/api/v1/categories").header("X-Request-ID")
    assert UUID4.match(first), first
    assert UUID4.match(second), second
    assert first != second


@suite.test
def test_request_id_from_client_is_echoed(edge):
    response = edge.get("/api/v1/categories", headers={"X-Request-ID": "e2e-echo.1_A"})
    assert response.status == 200, response
    assert response.header("X-Request-ID") == "e2e-echo.1_A"
    error = assert_error(edge.get("/api/v1/nowhere", headers={"X-Request-ID": "e2e-404"}),
                         404, "not_found")
    assert error["request_id"] == "e2e-404"


@suite.test
def test_invalid_request_id_is_replaced(edge):
    for bad in ("has space", "x" * 129, "quote\"d", "semi;colon"):
        response = edge.get("/health", key=False, headers={"X-Request-ID": bad})
        assert response.status == 200
        assert UUID4.match(response.header("X-Request-ID")), (bad, response.header("X-Request-ID"))


@suite.test
def test_missing_api_key_is_401_with_www_authenticate(edge):
    response = edge.get("/api/v1/products", key=False)
    assert_error(response, 401, "unauthorized")
    assert response.header("WWW-Authenticate") == 'ApiKey realm="comptoir"'


@suite.test
def test_wrong_api_key_is_401(edge):
    for key in ("wrong-key-0123456789abcdef", edge.key + "x", edge.key[:-1], "short"):
        response = edge.get("/api/v1/products", key=key)
        assert_error(response, 401, "unauthorized")
        assert response.header("WWW-Authenticate") == 'ApiKey realm="comptoir"'


@suite.test
def test_unknown_api_route_is_404_with_error_body(edge):
    assert_error(edge.get("/api/v1/nowhere"), 404, "not_found")
    assert_error(edge.get("/api/v1/products/1/2"), 404, "not_found")
    assert_error(edge.get("/api/v1/products/"), 404, "not_found")
    assert_error(edge.get("/nowhere", key=False), 404, "not_found")


@suite.test
def test_wrong_method_is_405_with_allow(edge):
    response = edge.request("PATCH", "/api/v1/categories")
    assert_error(response, 405, "method_not_allowed")
    assert response.header("Allow") == "GET, POST", response.header("Allow")
    response = edge.request("PATCH", "/api/v1/products/1")
    assert_error(response, 405, "method_not_allowed")
    assert response.header("Allow") == "GET, PUT, DELETE", response.header("Allow")
    response = edge.request("POST", "/health", key=False)
    assert_error(response, 405, "method_not_allowed")
    assert response.header("Allow") == "GET, HEAD"


@suite.test
def test_head_on_health_and_ready_answers_without_a_body(edge):
    #  Load balancers probe with HEAD: same status and headers, no body.
    for path in ("/health", "/ready"):
        response = edge.request("HEAD", path, key=False)
        assert response.status == 200, (path, response)
        assert response.body == b"", (path, response.body)
        assert UUID4.match(response.header("X-Request-ID")), response.headers
        get = edge.get(path, key=False)
        assert response.header("Content-Length") == get.header("Content-Length"), \
            (path, response.headers, get.headers)
    response = edge.request("HEAD", "/openapi.yaml", key=False)
    assert response.status == 405, response


@suite.test
def test_write_routes_need_a_token(edge):
    #  Catalog writes are for managers: without a token they answer 401
    #  asking for a Bearer token (test_security.py has the role matrix).
    for method, path in (("POST", "/api/v1/products"), ("PUT", "/api/v1/products/1"),
                         ("DELETE", "/api/v1/products/1"), ("POST", "/api/v1/categories")):
        body = {"name": "x"} if method != "DELETE" else None
        response = edge.request(method, path, body=body)
        assert_error(response, 401, "unauthorized")
        assert response.header("WWW-Authenticate") == 'Bearer realm="comptoir"', response.headers


@suite.test
def test_every_api_answer_carries_the_rate_limit_headers(edge):
    response = edge.get("/api/v1/categories")
    assert response.status == 200, response
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
                 "X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute"):
        assert response.header(name) is not None, (name, response.headers)
    assert int(response.header("RateLimit-Remaining")) < int(response.header("RateLimit-Limit"))
    #  Errors of a route count and say so too; the operations routes do not
    assert edge.get("/api/v1/products/999999999").header("RateLimit-Limit") is not None
    assert edge.get("/health", key=False).header("RateLimit-Limit") is None


#  The write routes need roles (401 above), so the body checks are shown on
#  a read route: the edge checks any body it is sent, whatever the method.

@suite.test
def test_body_over_limit_is_413_before_the_body_is_sent(edge):
    #  The announced Content-Length is enough: the edge answers at once, so
    #  a client that waits (Expect: 100-continue) never sends the body.
    limit = body_limit()
    url = urllib.parse.urlsplit(edge.edge)
    for expect in ("Expect: 100-continue\r\n", ""):
        with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
            head = ("GET /api/v1/products HTTP/1.1\r\nHost: %s\r\nX-API-Key: %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                    % (url.hostname, edge.key, limit + 1, expect))
            sock.sendall(head.encode("ascii"))
            answer = sock.makefile("rb")
            status_line = answer.readline().decode("ascii")
            assert status_line.startswith("HTTP/1.1 413"), status_line
            headers = {}
            for line in iter(answer.readline, b"\r\n"):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = answer.read(int(headers["content-length"]))
        response = Response(413, list(headers.items()), body)
        assert_error(response, 413, "payload_too_large")


@suite.test
def test_streamed_body_over_limit_is_413(edge):
    #  A chunked body announces no length: the edge counts what streams in.
    limit = body_limit()
    chunk = b" " * 65536

    def chunks():
        yield b"{"
        sent = 1
        while sent <= limit:
            yield chunk
            sent += len(chunk)
        yield b"}"

    conn = Edge.connect(edge.edge)
    try:
        conn.request("GET", "/api/v1/products", body=chunks(), encode_chunked=True,
                     headers={"X-API-Key": edge.key, "Content-Type": "application/json",
                              "Transfer-Encoding": "chunked"})
        answer = conn.getresponse()
        response = Response(answer.status, answer.getheaders(), answer.read())
    finally:
        conn.close()
    assert_error(response, 413, "payload_too_large")


@suite.test
def test_malformed_json_is_400_invalid_json(edge):
    headers = {"Content-Type": "application/json"}
    for body in ("{\"name\": ", "not json", "{\"a\": 1,}", "[1, 2]", "\"text\"", "42"):
        response = edge.request("GET", "/api/v1/products", body=body, headers=headers)
        assert_error(response, 400, "invalid_json")


@suite.test
def test_json_nested_too_deep_is_400(edge):
    deep = "{\"a\": " + "[" * 40 + "]" * 40 + "}"
    response = edge.request("GET", "/api/v1/products", body=deep,
                            headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    shallow = "{\"a\": " + "[" * 20 + "]" * 20 + "}"
    response = edge.request("GET", "/api/v1/products?per_page=1", body=shallow,
                            headers={"Content-Type": "application/json"})
    assert response.status == 200, response


@suite.test
def test_body_that_is_not_json_is_415(edge):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = edge.request("GET", "/api/v1/products", body="{}", headers=headers)
        assert_error(response, 415, "unsupported_media_type")
    response = edge.request("GET", "/api/v1/products?per_page=1", body="{}",
                            headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status == 200, response


@suite.test
def test_keep_alive_serves_several_requests_on_one_connection(edge):
    conn = Edge.connect(edge.edge)
    try:
        for path in ("/health", "/api/v1/categories", "/api/v1/nowhere", "/api/v1/products/1"):
            response = edge.request("GET", path, connection=conn)
            assert response.status in (200, 404), response
            assert response.header("Connection") != "close", response.headers
    finally:
        conn.close()


@suite.test
def test_concurrent_requests_all_answer(edge):
    def one(number):
        response = edge.get("/api/v1/products?per_page=5&page=%d" % (number % 3 + 1),
                            headers={"X-Request-ID": "e2e-concurrent-%d" % number})
        return response.status, response.header("X-Request-ID"), number

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(64)))
    for status, rid, number in results:
        assert status == 200, (status, number)
        assert rid == "e2e-concurrent-%d" % number, (rid, number)


@suite.test
def test_openapi_is_served_as_yaml(edge):
    response = edge.get("/openapi.yaml", key=False)
    assert response.status == 200, response
    assert response.header("Content-Type") == "application/yaml"
    assert response.body.lstrip().startswith(b"openapi:"), response.body[:80]


@suite.test
def test_metrics_expose_edge_and_broker_series(edge):
    edge.get("/api/v1/categories")
    edge.get("/api/v1/products", key=False)
    response = edge.get("/metrics", key=False, admin=True)
    assert response.status == 200, response
    assert response.header("Content-Type").startswith("text/plain"), response.headers
    text = response.body.decode("utf-8")
    assert re.search(r'^comptoir_edge_requests_total\{route="/api/v1/categories",method="GET",'
                     r'status="200"\} \d+', text, re.M), text[:2000]
    assert re.search(r'^comptoir_edge_request_duration_seconds_bucket\{route="/api/v1/categories"',
                     text, re.M)
    assert re.search(r"^comptoir_edge_auth_failures_total \d+", text, re.M)
    assert re.search(r"^comptoir_edge_in_flight \d+", text, re.M)
    assert re.search(r"^comptoir_broker_\w+", text, re.M), "no broker series"
    assert "# TYPE comptoir_edge_requests_total counter" in text


@suite.test
def test_metrics_include_every_context_process(edge):
    #  Each context process answers "_metrics.<process>" through the broker;
    #  the edge's /metrics collects them all. An actor pushes its numbers to
    #  its process about once a second, so wait a little for them.
    for number in range(8):
        edge.get("/api/v1/products?per_page=1&e2e_metrics=%d" % number)
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        response = edge.get("/metrics", key=False, admin=True)
        assert response.status == 200, response
        text = response.body.decode("utf-8")
        if 'comptoir_context_requests_total{process="product-1"' in text:
            break
        time.sleep(0.5)
    assert 'comptoir_context_requests_total{process="product-1"' in text, text[-3000:]
    #  One exposition: each family is declared once, whatever the processes
    types = re.findall(r"^# TYPE (\S+) ", text, re.M)
    assert len(types) == len(set(types)), sorted(t for t in types if types.count(t) > 1)
    #  Every process answered: no scrape error for them
    assert not re.search(r'^comptoir_edge_metrics_scrape_errors_total\{process="product-\d+"\} [1-9]',
                         text, re.M), re.findall(r"^comptoir_edge_metrics_scrape_errors.*$", text, re.M)


@suite.test
def test_admin_services_hides_the_metrics_services(edge):
    response = edge.get("/admin/services", key=False, admin=True)
    assert response.status == 200, response
    view = response.json()
    assert not [s for s in view["services"] if s["name"].startswith("_metrics.")], view
    assert not [w for w in view["workers"] if w["service"].startswith("_metrics.")], view


@suite.test
def test_admin_services_lists_product_workers(edge):
    response = edge.get("/admin/services", key=False, admin=True)
    assert response.status == 200, response
    view = response.json()
    services = {service["name"]: service for service in view["services"]}
    assert "product" in services, view
    assert services["product"]["workers"] >= 1, services["product"]
    workers = [worker for worker in view["workers"] if worker["service"] == "product"]
    assert len(workers) == services["product"]["workers"], view


@suite.test
def test_admin_port_has_no_api_routes(edge):
    assert_error(edge.get("/api/v1/products", admin=True), 404, "not_found")
    assert_error(edge.get("/metrics", key=False), 404, "not_found")


if __name__ == "__main__":
    suite.run(Edge())
