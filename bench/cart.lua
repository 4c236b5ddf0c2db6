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

local dir = os.getenv("BENCH_DIR") or "var/bench/cart"
local threads = {}
local counter = 0

function setup(thread)
    thread:set("index", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    local index = wrk.thread:get("index")
    local count = tonumber(os.getenv("BENCH_THREADS") or "2")
    local all = {}
    for line in io.lines(dir .. "/carts.txt") do
        if #line > 0 then all[#all + 1] = line end
    end
    my_paths = {}
    for i = index + 1, #all, count do my_paths[#my_paths + 1] = "/api/v1/carts/" .. all[i] .. "/items" end
    sent = 0
    --  Globals read by done() through thread:get (which reads a global).
    ok, other, statuses = 0, 0, ""
    codes = {}
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
    if status >= 200 and status < 300 then
        ok = ok + 1
    else
        other = other + 1
        codes[status] = (codes[status] or 0) + 1
        if other <= 3 then io.stderr:write("cart: " .. status .. " " .. body:sub(1, 200) .. "\n") end
        local list = {}
        for code, n in pairs(codes) do list[#list + 1] = code .. ":" .. n end
        statuses = table.concat(list, ",")
    end
end

function done(summary, latency, requests)
    local ok, other, statuses = 0, 0, {}
    for _, thread in ipairs(threads) do
        ok = ok + (tonumber(thread:get("ok")) or 0)
        other = other + (tonumber(thread:get("other")) or 0)
        local s = thread:get("statuses")
        if s and #s > 0 then statuses[#statuses + 1] = s end
    end
    io.write(string.format("RESULT ok=%d other=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s\n",
        ok, other, summary.duration / 1e6,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        table.concat(statuses, ",")))
end
