--  Comptoir - shared by the wrk scripts that count answers (dofile'd from
--  the repository's root, where bench/run.sh runs wrk).
--
--  threads, setup (thread): every thread in threads, its "index" (0, 1 ...)
--  set for init() to read.
--  read_lines (path): the file's non-empty lines.
--  count_answer (label, good, status, body): one answer of this thread;
--  good (e.g. status == 201) adds to the global ok, anything else to other and to statuses ("code:n,...",
--  its first three bodies on stderr). Globals, so that done() reads them
--  through thread:get.
--  sum_answers (threads): ok, other and the statuses of every thread.

ok, other, statuses, codes = 0, 0, "", {}
threads = {}
local counter = 0

function setup (thread)
    thread:set("index", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function read_lines (path)
    local lines = {}
    for line in io.lines(path) do
        if #line > 0 then lines[#lines + 1] = line end
    end
    return lines
end

function count_answer (label, good, status, body)
    if good then
        ok = ok + 1
        return
    end
    other = other + 1
    codes[status] = (codes[status] or 0) + 1
    if other <= 3 then io.stderr:write(label .. ": " .. status .. " " .. body:sub(1, 200) .. "\n") end
    local list = {}
    for code, n in pairs(codes) do list[#list + 1] = code .. ":" .. n end
    statuses = table.concat(list, ",")
end

function sum_answers (threads)
    local all_ok, all_other, all_statuses = 0, 0, {}
    for _, thread in ipairs(threads) do
        all_ok = all_ok + (tonumber(thread:get("ok")) or 0)
        all_other = all_other + (tonumber(thread:get("other")) or 0)
        local s = thread:get("statuses")
        if s and #s > 0 then all_statuses[#all_statuses + 1] = s end
    end
    return all_ok, all_other, table.concat(all_statuses, ",")
end
