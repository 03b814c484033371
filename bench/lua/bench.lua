-- wrk script of the ECS Portal benchmarks (bench/wrk.py runs it).
--
-- Arguments after "--", each name=value:
--   method=GET|POST    body=<JSON template>    auth=<Authorization header value>
--   edns=<n>           seed=<n>                prefix=<4 hex digits>
--   limit=<n>          responses per thread after which the thread stops (0: run for -d)
--   stopfile=<path>    a line is appended to it when a thread stops at its limit (wrk itself
--                      runs on until -d; bench/wrk.py interrupts it once every thread stopped)
-- Placeholders in the body template, replaced for every request:
--   @EDNTAC@  the TAC of a random EDN of the generated inventory (1..edns, 6 hex digits)
--   @APP@     a random EAS id of the pool (com.bench.app-00 .. -09)
--   @UTAC@    prefix + this thread's number: a TAC no other thread or run uses
--   @UCELL@   a per-thread counter (9 hex digits): with @UTAC@, a new location every time
-- done() prints one line "BENCH_STATUS <status>=<count> ..." with every HTTP status seen.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("tid", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

statuses = {}
local opts = {}
local template = nil
local dynamic = false
local fixed_request = nil
local counter = 0
local handled = 0
local limit = 0
local edns = 1
local headers = {}

function init(args)
   for _, arg in ipairs(args) do
      local key, value = string.match(arg, "^([%w_]+)=(.*)$")
      if key then opts[key] = value end
   end
   wrk.method = opts.method or "POST"
   edns = tonumber(opts.edns or "1")
   limit = tonumber(opts.limit or "0")
   math.randomseed(tonumber(opts.seed or "1") + 7919 * (tid or 0))
   if opts.auth then headers["Authorization"] = opts.auth end
   if opts.body then
      headers["Content-Type"] = "application/json"
      template = opts.body
      dynamic = string.find(template, "@", 1, true) ~= nil
   end
   if not dynamic then
      fixed_request = wrk.format(wrk.method, wrk.path, headers, template)
   end
end

function request()
   if not dynamic then
      return fixed_request
   end
   counter = counter + 1
   local body = template
   body = string.gsub(body, "@EDNTAC@", string.format("%06X", math.random(1, edns)))
   body = string.gsub(body, "@APP@", string.format("com.bench.app-%02d", math.random(0, 9)))
   body = string.gsub(body, "@UTAC@", string.format("%s%02X", opts.prefix or "BE", tid or 0))
   body = string.gsub(body, "@UCELL@", string.format("%09X", counter))
   return wrk.format(wrk.method, wrk.path, headers, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   handled = handled + 1
   if limit > 0 and handled == limit then
      if opts.stopfile then
         local file = io.open(opts.stopfile, "a")
         file:write("stopped\n")
         file:close()
      end
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      local seen = thread:get("statuses") or {}
      for status, count in pairs(seen) do
         total[status] = (total[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(total) do
      table.insert(parts, string.format("%d=%d", status, count))
   end
   io.write("BENCH_STATUS " .. table.concat(parts, " ") .. "\n")
end
