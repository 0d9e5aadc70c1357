-- wrk script of the web workload: requests /NNNN.html of the generated site, file ranks
-- drawn with a Zipf (s = 1) popularity from a PRNG seeded by the first script argument.
-- wrk runs LuaJIT (Lua 5.1).
local n = 3000
local cdf = {}
local paths = {}

function init(args)
    math.randomseed(tonumber(args[1]) or 1)
    local total = 0
    for i = 1, n do total = total + 1 / i end
    local acc = 0
    for i = 1, n do
        acc = acc + (1 / i) / total
        cdf[i] = acc
        paths[i] = string.format("/%04d.html", i - 1)
    end
end

function request()
    local u = math.random()
    local lo, hi = 1, n
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if cdf[mid] < u then lo = mid + 1 else hi = mid end
    end
    return wrk.format("GET", paths[lo])
end
