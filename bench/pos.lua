--  Comptoir - wrk script: POST /api/v1/sales, one register per connection.
--
--  Run with as many threads as connections (wrk -tN -cN): thread i is the
--  register of line i+1 of BENCH_DIR/registers.txt (register_id store_id
--  cashier_token), with its own token. Each request: 1 to 3 distinct
--  products of BENCH_DIR/products.txt (product_id price_cents), 1 or 2 units
--  each, a fresh Idempotency-Key (BENCH_RUN-thread-n), one cash payment
--  covering the total (twice the subtotal: the change is given back).
--
--  BENCH_DELAY_MS, when set, paces each thread: that many milliseconds
--  between an answer and the next request (a steady load below saturation).
--
--  Each thread stops itself on the first answer after BENCH_SECONDS (its
--  own monotonic clock), so it has nothing in flight when it stops: the
--  sales recorded are exactly the answers counted. wrk's -d must be longer
--  (a grace period); a thread still waiting when wrk stops is counted in
--  "inflight". done() prints one line the caller parses:
--      RESULT ok=<201s> other=<non-201> inflight=<n> seconds=<first request
--      to last answer> p50_ms= p95_ms= p99_ms= statuses=<code:n,...>

dofile("bench/wrk_common.lua")   -- setup, threads, read_lines, count_answer, sum_answers

local ffi = require("ffi")
ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime (int clock, bench_timespec *ts);
]]
local timespec = ffi.new("bench_timespec")
local function now ()
    ffi.C.clock_gettime(1, timespec)        -- CLOCK_MONOTONIC
    return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local dir = os.getenv("BENCH_DIR") or "var/bench/pos"

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause and pause > 0 then
    function delay ()
        return pause
    end
end

function init (args)
    local index = wrk.thread:get("index")
    local registers = read_lines(dir .. "/registers.txt")
    local line = registers[index % #registers + 1]
    local register, store, token = line:match("^(%d+) (%d+) (%S+)$")
    register_id, auth = register, "Bearer " .. token
    products = {}
    for _, l in ipairs(read_lines(dir .. "/products.txt")) do
        local id, price = l:match("^(%d+) (%d+)$")
        products[#products + 1] = { id = id, price = tonumber(price) }
    end
    math.randomseed(index * 7919 + os.time())
    sent = 0
    started, finished, stopped = 0, 0, 0
    run = os.getenv("BENCH_RUN") or tostring(os.time())
    prefix = run .. "-" .. index .. "-"
    seconds = tonumber(os.getenv("BENCH_SECONDS") or "10")
    api_key = os.getenv("COMPTOIR_TEST_API_KEY")
end

function request ()
    if started == 0 then
        started = now()
        deadline = started + seconds
    end
    sent = sent + 1
    local lines, picked, subtotal = {}, {}, 0
    local count = math.random(1, math.min(3, #products))
    while #lines < count do
        local p = products[math.random(1, #products)]
        if not picked[p.id] then
            picked[p.id] = true
            local quantity = math.random(1, 2)
            subtotal = subtotal + p.price * quantity
            lines[#lines + 1] = '{"product_id":' .. p.id .. ',"quantity":' .. quantity .. '}'
        end
    end
    local body = '{"register_id":' .. register_id .. ',"items":[' .. table.concat(lines, ",")
        .. '],"payments":[{"method":"cash","amount_cents":' .. (subtotal * 2 + 100) .. '}]}'
    local headers = {
        ["Content-Type"] = "application/json",
        ["X-API-Key"] = api_key,
        ["Authorization"] = auth,
        ["Idempotency-Key"] = prefix .. sent,
    }
    return wrk.format("POST", "/api/v1/sales", headers, body)
end

function response (status, headers, body)
    count_answer("pos", status == 201, status, body)
    finished = now()
    if finished >= deadline then
        stopped = 1
        wrk.thread:stop()
    end
end

function done (summary, latency, requests)
    local ok, other, statuses = sum_answers(threads)
    local inflight, first, last = 0, nil, nil
    for _, thread in ipairs(threads) do
        inflight = inflight + (tonumber(thread:get("sent")) or 0) - (tonumber(thread:get("ok")) or 0)
            - (tonumber(thread:get("other")) or 0)
        local s, f = tonumber(thread:get("started")) or 0, tonumber(thread:get("finished")) or 0
        if s > 0 and (not first or s < first) then first = s end
        if f > 0 and (not last or f > last) then last = f end
    end
    io.write(string.format("RESULT ok=%d other=%d inflight=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f statuses=%s\n",
        ok, other, inflight, (first and last) and (last - first) or 0,
        latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
        statuses))
end
