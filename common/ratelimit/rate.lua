-- One rate budget shared through Redis: the rules of common/ratelimit/_local.py
-- (Pacer, rate_at) and the store semantics of _store.py (MemoryStore), applied
-- atomically to one hash. tests/rate/test_redis_parity.py checks that both answer
-- alike over random event sequences; keep the two in step.
--
-- KEYS[1]: the budget's hash.
-- ARGV[1]: the operation: acquire, release or report.
-- ARGV[2]: now, in seconds ('' : Redis's own clock, TIME, so machines agree).
-- The operation's arguments follow (see each below). Numbers go out with 17
-- significant digits: a float read back is the float written.

local CLIMB, DOUBLING, UNPACED_ABOVE, MIN_RATE = 2.0, 1.0, 64.0, 0.05
local UNPACED_GUESS = 16.0
local DOUBLING_REQUESTS = 10.0
local HALVE, DECREASE, MARGIN, MIN_SAMPLE, SOLO_SAMPLE = 0.5, 0.9, 0.95, 1, 4
local BURST_SLACK, RECENT, RECENT_SAMPLE = 1, 0.5, 4
local KNOWN_MARGIN = 0.95
local HOLD_AFTER, MAX_HOLD, HOLD_GAIN = 2.0, 30.0, 1.2
local CLOSED_HOLD = 2.0
local MAX_LEASE, SKEW, QUEUE_LIMIT, KEY_TTL = 30.0, 1.0, 1000, 3600

local h = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(x) return string.format('%.17g', x) end

local FIELDS = {'tat', 'cool', 'srv', 'probe', 'lease', 'ep', 'acc', 'floor', 'est',
                'started', 'cf', 'eps', 'cd', 'sent', 'wa', 'wacc', 'rr', 'dr', 'hold'}

local function load()
  local f = redis.call('HMGET', h, unpack(FIELDS))
  return {
    tat = tonumber(f[1]) or 0, cool = tonumber(f[2]) or 0, srv = tonumber(f[3]) or 0,
    probe = tonumber(f[4]) == 1, lease = tonumber(f[5]) or 0, ep = tonumber(f[6]),
    acc = tonumber(f[7]) or 0, floor = tonumber(f[8]) or 0, est = tonumber(f[9]) or 0,
    started = tonumber(f[10]), cf = tonumber(f[11]) or 0, eps = tonumber(f[12]) or 0,
    cd = tonumber(f[13]), sent = tonumber(f[14]) or 0,
    wa = tonumber(f[15]) or 0, wacc = tonumber(f[16]) or 0, rr = tonumber(f[17]) or 0,
    dr = tonumber(f[18]), hold = tonumber(f[19]) or 0,
  }
end

local function save(s)
  local probe = '0'
  if s.probe then probe = '1' end
  local args = {'tat', num(s.tat), 'cool', num(s.cool), 'srv', num(s.srv), 'probe', probe,
                'lease', num(s.lease), 'acc', num(s.acc), 'floor', num(s.floor),
                'est', num(s.est), 'cf', num(s.cf), 'eps', num(s.eps),
                'sent', num(s.sent), 'wa', num(s.wa), 'wacc', num(s.wacc), 'rr', num(s.rr),
                'hold', num(s.hold)}
  for _, name in ipairs({'ep', 'started', 'cd', 'dr'}) do
    if s[name] ~= nil then
      args[#args + 1] = name
      args[#args + 1] = num(s[name])
    end
  end
  redis.call('HSET', h, unpack(args))
  if s.dr == nil then redis.call('HDEL', h, 'dr') end
  redis.call('EXPIRE', h, KEY_TTL)
end

-- rate_at(): the pace in force at `at` (requests/s); nil means no pacing.
local function rate_at(s, at, configured)
  if s.ep == nil or s.est == 0 then return configured end
  local t = math.max(0, at - s.cf)
  local rate
  if s.hold > 0 and t < CLIMB + s.hold then
    rate = s.floor  -- a limit the probes found again and again: paced under it
  elseif t < CLIMB then
    rate = s.est - (s.est - s.floor) * (1 - t / CLIMB) ^ 3
  else
    t = t - s.hold
    local doubling = DOUBLING
    if s.cf == s.ep then doubling = math.max(DOUBLING, DOUBLING_REQUESTS / s.est) end
    rate = s.est * 2 ^ math.min((t - CLIMB) / doubling, 30)
  end
  if configured ~= nil then return math.min(rate, configured) end
  if rate > UNPACED_ABOVE * s.est then return nil end
  return rate
end

-- A number the rules never write: not finite (nan, inf), or a count, a pace or a span
-- below zero. (Only Redis needs this: a budget in Redis is anyone's to edit, one in a
-- MemoryStore only ours.)
local COUNTS = {acc = true, sent = true, eps = true, wacc = true, est = true, floor = true,
                rr = true, cd = true, lease = true, hold = true}
-- Counted one by one: whole numbers (an episode of 2.5 or 1e20 never parsed as one, and
-- every client paced alone for good, the budget never reset).
local WHOLE = {acc = true, sent = true, eps = true, wacc = true}
local function unwritable(s)
  for _, name in ipairs(FIELDS) do
    local x = s[name]
    if type(x) == 'number' and (x ~= x or x == math.huge or x == -math.huge
                                or (COUNTS[name] and x < 0)
                                or (WHOLE[name] and (x ~= math.floor(x) or x >= 2^53))) then
      return true
    end
  end
  -- A learned pace is at least MIN_RATE, and its floor MARGIN of it or all of it (a
  -- seed): 1e-300/s would make every slot 1e300 s away.
  if s.est ~= 0 and (s.est < MIN_RATE or s.floor > s.est
                     or s.floor < s.est * MARGIN * (1 - 1e-9)) then
    return true
  end
  if s.hold > MAX_HOLD then return true end
  return false
end

-- A key of another type (a string, a list): nothing the script wrote.
local function foreign()
  local kind = redis.call('TYPE', h)['ok']
  return kind ~= 'hash' and kind ~= 'none'
end

-- corrupt() of _store.py: a time the rules could not have written by now.
local function corrupt(s, configured, max_wait)
  if unwritable(s) then return true end
  if s.started ~= nil and s.started > now + SKEW then return true end
  if s.ep ~= nil and s.ep > now + SKEW then return true end
  local cool_for = s.cd or max_wait
  if s.cool - now > cool_for + SKEW or s.lease - now > MAX_LEASE + SKEW then return true end
  local rate = rate_at(s, now, configured)
  if rate == nil then return false end
  return s.tat - math.max(now, s.cool) > math.max(max_wait, QUEUE_LIMIT / rate) + SKEW
end

local function turn(kind, wait, server_wait, probe, interval, s, reset)
  return {kind, num(wait), num(server_wait), tostring(probe), num(interval), num(now),
          num(s.eps), tostring(reset)}
end

local function configured_rate(arg)
  local rate = tonumber(arg)
  if rate == 0 then return nil end
  return rate
end

-- acquire(rate_limit or 0, burst, lease, max_wait, seed) -> a Turn's wire form.
local function acquire()
  local configured, burst = configured_rate(ARGV[3]), tonumber(ARGV[4])
  local lease, max_wait, seed = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local reset = 0
  if foreign() then
    redis.call('DEL', h)
    reset = 1
  end
  local s = load()
  if corrupt(s, configured, max_wait) then
    redis.call('DEL', h)
    s = load()
    reset = 1
  end
  if s.started == nil then
    s.started = now
    if seed > 0 and s.ep == nil then  -- a new budget starts at the caller's pace
      s.ep, s.cf, s.est, s.floor = now, now, seed, seed
    end
  end
  if s.cool > now then
    save(s)
    return turn('cool', s.cool - now, s.srv - now, 0, 0, s, reset)
  end
  local probe = 0
  if s.probe then
    if s.lease > now then
      save(s)
      return turn('probe', s.lease - now, 0, 0, 0, s, reset)
    end
    s.lease = now + lease
    probe = 1
  end
  -- Pacer.reserve()
  s.sent = s.sent + 1
  local rate = rate_at(s, now, configured)
  if rate == nil then
    save(s)
    return turn('go', 0, 0, probe, 0, s, reset)
  end
  if configured ~= nil and burst <= 1 and s.ep == nil then
    rate = math.min(rate, configured * KNOWN_MARGIN)
  end
  local interval = 1 / rate
  local slot = math.max(s.tat, now, s.cool)
  local credit = math.max(0, burst - 1 - BURST_SLACK)
  if s.dr ~= nil then  -- a burst's credit refills from empty, slot by slot
    if credit > 0 then slot = math.max(slot, s.dr + (credit + 1) * interval) end
    s.dr = nil
  end
  s.tat = slot + interval
  local send = math.max(now, slot - credit * interval)
  save(s)
  return turn('go', send - now, 0, probe, interval, s, reset)
end

-- release(interval, episode, probe 0/1) -> 'ok'
local function release()
  local interval, episode, probe = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local s = load()
  if probe == 1 then s.lease = 0 end
  if episode == s.eps then
    s.sent = math.max(0, s.sent - 1)
    if interval ~= 0 then s.tat = math.max(now, s.tat - interval) end
  end
  save(s)
  return 'ok'
end

-- Pacer._recent(): what the server accepted per second just now (0: can't tell).
local function recent(s)
  local elapsed = now - s.wa
  local r = 0
  if elapsed < 2 * RECENT then r = s.rr end
  if elapsed >= RECENT / 2 and s.wacc >= RECENT_SAMPLE then
    r = math.max(r, s.wacc / elapsed)
  end
  return r
end

-- Pacer._decrease(): one multiplicative decrease, to the best estimate of the pace.
local function decrease(s, configured, cool_down, server_wait, precise)
  local start = s.ep
  if start == nil then start = s.started end
  if start == nil then start = now end
  local span = math.max(now - start + cool_down, 0.001)
  local best = nil
  local current = rate_at(s, now, configured)
  local sample = MIN_SAMPLE
  -- unpaced, a lone refused request: a sequential client (unless refused again after an
  -- episode that left pacing off)
  local again = s.ep ~= nil and s.est == 0
  if current == nil and s.sent <= s.acc + 1 and not again then sample = SOLO_SAMPLE end
  if s.acc >= sample then best = s.acc / span end
  if precise and server_wait > 0 then best = math.min(best or math.huge, 1 / server_wait) end
  if current == nil and s.est ~= 0 then current = UNPACED_GUESS * s.est end
  if current ~= nil then best = math.min(best or math.huge, current * DECREASE) end
  local estimate = best or 0
  if current ~= nil then
    estimate = math.max(estimate, current * HALVE)
    if configured == nil then  -- a learned pace only (see _local.py)
      estimate = math.max(estimate, math.min(recent(s), current * DECREASE))
    end
  end
  if estimate ~= 0 then estimate = math.max(estimate, MIN_RATE) end
  -- refused probing beyond a measured estimate: found the same limit again (within
  -- HOLD_GAIN either way), the next probe waits longer
  if s.ep ~= nil and s.est > 0 and s.cf == s.ep and now - s.cf >= CLIMB + s.hold then
    if s.est < HOLD_GAIN * estimate and HOLD_GAIN * estimate < HOLD_GAIN ^ 2 * s.est then
      s.hold = math.min(math.max(2 * s.hold, HOLD_AFTER * cool_down), MAX_HOLD)
    else
      s.hold = 0
    end
  end
  s.est = estimate
  s.floor = estimate * MARGIN
  if current ~= nil then s.cf = now else s.cf = s.cool - CLIMB end
  s.ep = now
  s.eps = s.eps + 1
  s.acc = 0
  s.sent = 0
  s.tat = math.max(now, s.cool)
end

-- report(rate_limit or 0, kind ok/none/refused, sent_at, probe 0/1, cool_down,
--        server_wait, precise 0/1) -> 'ok', 'same' or 'new' (Pacer.on_report())
local function report()
  local configured, kind, sent_at = configured_rate(ARGV[3]), ARGV[4], tonumber(ARGV[5])
  local probe = tonumber(ARGV[6])
  local s = load()
  if probe == 1 then s.lease = 0 end
  if kind == 'none' then
    save(s)
    return 'ok'
  end
  if kind == 'ok' then
    s.acc = s.acc + 1
    -- Pacer._count_recent()
    local elapsed = now - s.wa
    if elapsed >= RECENT then
      if s.wacc >= RECENT_SAMPLE and elapsed < 2 * RECENT then
        s.rr = s.wacc / elapsed
      else
        s.rr = 0
      end
      s.wa, s.wacc = now, 0
    end
    s.wacc = s.wacc + 1
    s.probe = false
    s.srv = math.min(s.srv, now)
    save(s)
    return 'ok'
  end
  local cool_down, server_wait = tonumber(ARGV[7]), tonumber(ARGV[8])
  local precise = tonumber(ARGV[9]) == 1
  -- refused again, naming no wait, nothing accepted since the episode: hold back as long
  -- again as the limit has been closed, at most CLOSED_HOLD
  if s.ep ~= nil and s.acc == 0 and server_wait == 0 and sent_at > s.ep then
    cool_down = math.max(cool_down, math.min(now - s.ep, CLOSED_HOLD))
  end
  s.probe, s.dr = true, now
  if now + cool_down > s.cool then s.cd = cool_down end
  s.cool = math.max(s.cool, now + cool_down)
  s.srv = math.max(s.srv, now + server_wait, s.cool)
  s.tat = math.max(s.tat, s.cool)
  if s.ep ~= nil and (sent_at <= s.ep or s.acc == 0) then
    save(s)
    return 'same'
  end
  decrease(s, configured, cool_down, server_wait, precise)
  save(s)
  return 'new'
end

if op == 'acquire' then return acquire() end
if op == 'release' then return release() end
if op == 'report' then return report() end
return redis.error_reply('unknown operation ' .. tostring(op))
