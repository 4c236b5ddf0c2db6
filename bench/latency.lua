--  Comptoir - wrk script: a plain GET (headers from -H), and a done() that
--  prints the percentiles wrk --latency does not (p95) on one line:
--      RESULT requests=<n> non2xx=<n> errors=<n> seconds=<s> p50_ms= p95_ms= p99_ms=
--  (non2xx counts any status outside 200..299, errors the socket errors).

local threads = {}

function setup (thread)
    table.insert(threads, thread)
end

function init (args)
    bad = 0
end

function response (status, headers, body)
    if status < 200 or status > 299 then
        bad = bad + 1
        if bad <= 3 then io.stderr:write("latency: " .. status .. " " .. body:sub(1, 200) .. "\n") end
    end
end

function done (summary, latency, requests)
    local bad = 0
    for _, thread in ipairs(threads) do bad = bad + (tonumber(thread:get("bad")) or 0) end
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout
    io.write(string.format("RESULT requests=%d non2xx=%d errors=%d seconds=%.3f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f\n",
        summary.requests, bad, errors, summary.duration / 1e6, latency:percentile(50) / 1000,
        latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
