-- wrk script: replays pre-signed `POST /texml/voice` requests (bench/run).
--
-- The file named by the environment variable REQUESTS (default bench-requests.tsv) holds
-- one request per line, `body<TAB>telnyx-timestamp<TAB>telnyx-signature-ed25519`, as
-- written by `slotline-loadgen sign-requests`. Thread i of n takes lines i, i+n, i+2n, ...
-- so threads never send the same request; each thread cycles through its share (only
-- if the run outlasts the file does a request repeat). Requests are formatted once in
-- init(), so request() costs a table lookup. WRK_THREADS must equal wrk's -t; PATH_TO
-- (default /texml/voice) sets the path. SID_TAG (letters and digits), when set, is written
-- into every CallSid (`bench-<tag>0-...`), so a run against a server that skips signature
-- checks sends calls the database has not seen (a repeated CallSid costs the server less:
-- nothing to write). With SID_TAG and SID_FRESH_ON_WRAP=1, a thread that outruns its share
-- sends it again under the next wrap digit (`bench-<tag>1-...`, same length), so no
-- CallSid repeats for ten passes; the rewrite costs that thread a gsub per request (set
-- it for every server compared, so each pays the same client cost).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

function init(args)
   local file = os.getenv("REQUESTS") or "bench-requests.tsv"
   local path = os.getenv("PATH_TO") or "/texml/voice"
   local n = tonumber(os.getenv("WRK_THREADS") or "2")
   tag = os.getenv("SID_TAG") or ""
   local mine = id or 0
   reqs = {}
   local i = 0
   for line in io.lines(file) do
      if i % n == mine then
         local body, ts, sig = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)$")
         if body then
            if tag ~= "" then
               -- Fresh CallSids for this run (unsigned runs only: the signature no
               -- longer matches the body).
               body = body:gsub("bench%-", "bench-" .. tag .. "0-")
            end
            local headers = {
               ["Content-Type"] = "application/x-www-form-urlencoded",
               ["telnyx-timestamp"] = ts,
               ["telnyx-signature-ed25519"] = sig,
            }
            reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
         end
      end
      i = i + 1
   end
   if #reqs == 0 then
      error("no requests read from " .. file)
   end
   if tag ~= "" and not tag:match("^%w+$") then
      error("SID_TAG must be letters and digits, not " .. tag)
   end
   fresh = tag ~= "" and os.getenv("SID_FRESH_ON_WRAP") == "1"
   fresh_from = "bench%-" .. tag .. "0%-"
   nreqs = #reqs
   passes = fresh and 10 or 1
   idx = 0
   wrap = 0
   sent = 0
end

function request()
   idx = idx + 1
   if idx > #reqs then
      idx = 1
      wrap = wrap + 1
   end
   sent = sent + 1
   if fresh and wrap > 0 then
      local to = "bench-" .. tag .. tostring(wrap % 10) .. "-"
      return (reqs[idx]:gsub(fresh_from, to))
   end
   return reqs[idx]
end

function done(summary, latency, requests)
   local sent_total = 0
   local distinct = 0
   for _, t in ipairs(threads) do
      local s = t:get("sent") or 0
      local n = (t:get("nreqs") or 0) * (t:get("passes") or 1)
      sent_total = sent_total + s
      distinct = distinct + math.min(s, n)
   end
   io.write(string.format("replay: distinct_requests=%d sent=%d\n", distinct, sent_total))
end
