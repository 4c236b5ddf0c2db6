--  Comptoir - wrk script: POST /api/v1/checkout, one prepared cart per request.
--
--  Reads BENCH_DIR/carts.txt (one guest cart id a line, each holding one
--  unit of a product with stock at web) and BENCH_DIR/tokens.txt (one
--  customer token a line). Thread t of T takes the carts t, t+T, t+2T ...
--  and the tokens the same way, so no cart is checked out twice. Each
--  request: the next cart, a fresh Idempotency-Key, the next customer token,
--  tok_visa. When a thread has no cart left it stops (and says so).
--  done() prints one line the caller parses:
--      RESULT ok=<201s> other=<non-201> exhausted=<threads> p50_ms= p95_ms= p99_ms= statuses=<code:n,...>

dofile("bench/wrk_common.lua")   -- setup, threads, read_lines, count_answer, sum_answers

local dir = os.getenv("BENCH_DIR") or "var/bench/checkout"

function init(args)
    local index = wrk.thread:get("index")
    local count = tonumber(os.getenv("BENCH_THREADS") or "2")
    local carts, tokens = read_lines(dir .. "/carts.txt"), read_lines(dir .. "/tokens.txt")
    my_carts, my_tokens = {}, {}
    for i = index + 1, #carts, count do my_carts[#my_carts + 1] = carts[i] end
    for i = index + 1, #tokens, count do my_tokens[#my_tokens + 1] = tokens[i] end
    if #my_tokens == 0 then my_tokens = tokens end
    --  Globals read by done() through thread:get (which reads a global).
    next_cart, sent, exhausted = 0, 0, 0
    run = os.getenv("BENCH_RUN") or tostring(os.time())
    prefix = run .. "-" .. index .. "-"
end

local address = '"shipping_address":{"full_name":"Banc Essai","line1":"1 rue Sainte-Catherine",'
    .. '"city":"Montreal","province":"QC","postal_code":"H2X 1Y4","country":"CA"},'
    .. '"payment":{"method":"card","token":"tok_visa"}}'

function request()
    next_cart = next_cart + 1
    if next_cart > #my_carts then
        --  Out of carts: stop before a cart is sent twice.
        exhausted = 1
        wrk.thread:stop()
        next_cart = #my_carts
    end
    sent = sent + 1
    local token = my_tokens[(sent - 1) % #my_tokens + 1]
    local headers = {
        ["Content-Type"] = "application/json",
        ["X-API-Key"] = os.getenv("COMPTOIR_TEST_API_KEY"),
        ["Authorization"] = "Bearer " .. token,
        ["Idempotency-Key"] = prefix .. sent,
    }
    local body = '{"cart_id":"' .. my_carts[next_cart] .. '",' .. address
    return wrk.format("POST", "/api/v1/checkout", headers, body)
end

function response(status, headers, body)
    count_answer("checkout", status == 201, status, body)
end

function done(summary, latency, requests)
    local ok, other, statuses = sum_answers(threads)
    local exhausted = 0
    for _, thread in ipairs(threads) do
        exhausted = exhausted + (tonumber(thread:get("exhausted")) or 0)
    end
    io.write(string.format("RESULT ok=%d other=%d exhausted=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s\n",
        ok, other, exhausted, summary.duration / 1e6,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        statuses))
end
