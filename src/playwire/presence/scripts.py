"""The Lua scripts of :mod:`playwire.presence.redis`: each change to presence is one of them,
so it is atomic across nodes. Key layout in that module's docstring: every key a script
touches, declared or built from a prefix (room and session-rooms keys), carries the
namespace's hash tag, so on a Redis Cluster it is in the slot of the script's declared keys."""

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# The namespace's count, switching its ``limited`` flag across the limit (ARGV limit, low).
_CENSUS = """
local function census(counts, flag, limit, low)
  local n = redis.call('HLEN', counts)
  local limited = redis.call('EXISTS', flag)
  if limited == 0 and n > tonumber(limit) then
    redis.call('SET', flag, '1')
    return {n, 1, 1}
  elseif limited == 1 and n < tonumber(low) then
    redis.call('DEL', flag)
    return {n, 0, 1}
  end
  return {n, limited, 0}
end
"""

# Takes one session out of every room it is in; the rooms its user has left.
_LEAVE_ROOMS = """
local function leave_rooms(set_key, room_prefix, uid)
  local left = {}
  for _, room in ipairs(redis.call('SMEMBERS', set_key)) do
    local key = room_prefix .. room
    if redis.call('HINCRBY', key, uid, -1) <= 0 then
      redis.call('HDEL', key, uid)
      table.insert(left, room)
    end
  end
  redis.call('DEL', set_key)
  return left
end
"""

# KEYS: sessions, expiry, counts, members, limited. ARGV: sid, uid, username, lifetime (ms),
# limit, low. Returns {first, count, limited, switched}; first is 1
# for the user's first session; a known sid only has its expiry pushed forward.
JOIN = (
    _NOW_MS
    + _CENSUS
    + """
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
local first = 0
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
  if redis.call('HINCRBY', KEYS[3], ARGV[2], 1) == 1 then first = 1 end
end
local c = census(KEYS[3], KEYS[5], ARGV[5], ARGV[6])
return {first, c[1], c[2], c[3]}
"""
)

# KEYS: sessions, expiry, counts, members, limited. ARGV: sid, uid, limit, low. Returns
# {last, count, limited, switched}; last is 1 when it was the user's last session (0 also
# when the session was unknown, e.g. already swept).
LEAVE = (
    _CENSUS
    + """
local last = 0
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[2])
    redis.call('HDEL', KEYS[4], ARGV[2])
    last = 1
  end
end
local c = census(KEYS[3], KEYS[5], ARGV[3], ARGV[4])
return {last, c[1], c[2], c[3]}
"""
)

# KEYS: counts, limited. ARGV: limit, low. Returns {count, limited, switched}.
CENSUS = _CENSUS + "return census(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"

# KEYS: room, session-rooms, members. ARGV: uid, room, rooms per session, users per room.
# Returns {refusal or '', first, uid, username, ...} with the room's members after the join.
JOIN_ROOM = """
local first = 0
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'too_many_rooms', 0} end
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
      and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
    return {'room_full', 0}
  end
  redis.call('SADD', KEYS[2], ARGV[2])
  if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then first = 1 end
end
local reply = {'', first}
for _, uid in ipairs(redis.call('HKEYS', KEYS[1])) do
  table.insert(reply, uid)
  table.insert(reply, redis.call('HGET', KEYS[3], uid) or '')
end
return reply
"""

# KEYS: room, session-rooms. ARGV: uid, room. Returns -1 when the session was not in the
# room, 1 when it was the user's last session there, else 0.
LEAVE_ROOM = """
if redis.call('SREM', KEYS[2], ARGV[2]) == 0 then return -1 end
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: session-rooms. ARGV: uid, room key prefix. Returns the rooms the user has left.
LEAVE_ROOMS = _LEAVE_ROOMS + "return leave_rooms(KEYS[1], ARGV[2], ARGV[1])"

# KEYS: room, session-rooms. ARGV: uid, room. Puts back a session a refresh found missing
# from its room (swept, or lost with Redis), without the limits: it was admitted once.
# Returns 1 when that made it the user's first session in the room again, else 0.
REJOIN_ROOM = """
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then return 1 end
return 0
"""

# KEYS: room, members. Returns {uid, username, ...}.
ROOM_MEMBERS = """
local reply = {}
for _, uid in ipairs(redis.call('HKEYS', KEYS[1])) do
  table.insert(reply, uid)
  table.insert(reply, redis.call('HGET', KEYS[2], uid) or '')
end
return reply
"""

# KEYS: sessions, expiry, counts, members. ARGV: batch size, room key prefix, session-rooms
# key prefix. Removes expired sessions from the namespace and their rooms; returns
# {room or '', uid, username, ...} for each room, and the namespace (''), the user has left.
EXPIRE = (
    _NOW_MS
    + _LEAVE_ROOMS
    + """
local gone = {}
local sids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, sid in ipairs(sids) do
  redis.call('ZREM', KEYS[2], sid)
  local uid = redis.call('HGET', KEYS[1], sid)
  if uid then
    redis.call('HDEL', KEYS[1], sid)
    local name = redis.call('HGET', KEYS[4], uid) or ''
    for _, room in ipairs(leave_rooms(ARGV[3] .. sid, ARGV[2], uid)) do
      table.insert(gone, room)
      table.insert(gone, uid)
      table.insert(gone, name)
    end
    if redis.call('HINCRBY', KEYS[3], uid, -1) <= 0 then
      redis.call('HDEL', KEYS[3], uid)
      redis.call('HDEL', KEYS[4], uid)
      table.insert(gone, '')
      table.insert(gone, uid)
      table.insert(gone, name)
    end
  end
end
return gone
"""
)
