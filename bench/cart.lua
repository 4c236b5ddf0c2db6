--  Comptoir - wrk script: POST /api/v1/carts/{id}/items, one unit of one
--  product, over a set of prepared carts.
--
--  Reads BENCH_DIR/carts.txt (one guest cart id a line) and BENCH_PRODUCT
--  (a product id with a price). Thread t of BENCH_THREADS takes the carts
--  t, t+T, t+2T ... in turn, so two threads never write the same cart, and
--  a cart comes round again only after the thread's other carts (with 256
--  carts a thread and 16 connections, two requests on one cart are never
--  in flight together). done() prints one line the caller parses:
--      RESULT ok=<2xx> other=<the rest> seconds= p50_ms= p95_ms= p99_ms= statuses=<code:n,...>

dofile("bench/wrk_common.lua")   -- setup, threads, read_lines, count_answer, sum_answers

local dir = os.getenv("BENCH_DIR") or "var/bench/cart"

function init(args)
    local index = wrk.thread:get("index")
    local count = tonumber(os.getenv("BENCH_THREADS") or "2")
    local all = read_lines(dir .. "/carts.txt")
    my_paths = {}
    for i = index + 1, #all, count do my_paths[#my_paths + 1] = "/api/v1/carts/" .. all[i] .. "/items" end
    sent = 0
    headers = {
        ["Content-Type"] = "application/json",
        ["X-API-Key"] = os.getenv("COMPTOIR_TEST_API_KEY"),
    }
    body = '{"product_id":' .. os.getenv("BENCH_PRODUCT") .. ',"quantity":1}'
end

function request()
    sent = sent + 1
    return wrk.format("POST", my_paths[(sent - 1) % #my_paths + 1], headers, body)
end

function response(status, headers, body)
    count_answer("cart", status >= 200 and status < 300, status, body)
end

function done(summary, latency, requests)
    local ok, other, statuses = sum_answers(threads)
    io.write(string.format("RESULT ok=%d other=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s\n",
        ok, other, summary.duration / 1e6,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        statuses))
end
