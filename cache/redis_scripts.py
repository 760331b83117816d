"""The two Lua scripts that make a store and a purge atomic per source (one slot, one call).

A purge deletes every variant in the source's index and sets a new generation; a store only
lands if the generation is still the one read when its transform started. So a transform that
was running while its source was purged can never put its (stale) result back afterwards.

A generation always exists once anything of the source is stored: the first transform makes a
random one, and a read whose generation key is gone (expired, or evicted by an LRU
`maxmemory-policy`) is a miss. So no value depends on its generation key outliving it: had a
missing key meant "never purged", an evicted generation would bring back every value stored
before the purge that the index missed. A store keeps the generation alive at least as long as
the value it writes.

A generation key holds a random token, a space and the source id. Values carry only the token;
the id is there so that a purge by prefix can find every source that has values in Redis by
scanning the generation keys, when an eviction may have taken a directory index
(`RedisTier.purge`). Generations written before the id was added are a bare token.
"""

from __future__ import annotations

import os
import secrets
import struct
import time

# KEYS: generation.  ARGV: a new random generation, ttl ms. Returns the generation now.
GENERATION = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""

# KEYS: value, index, generation.  ARGV: expected generation, value, ttl ms, index member.
# A missing generation (evicted since the transform started) refuses too: a purge may be behind.
STORE = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
"""

# KEYS: generation, source version, source bytes.  ARGV: expected generation, version value,
# its ttl ms, bytes value ('' for none), its ttl ms. An HTTP source's shared version and bytes.
STORE_SOURCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
local keep = tonumber(ARGV[3])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
  keep = math.max(keep, tonumber(ARGV[5]))
end
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 1
"""

# KEYS: index, generation, shared source version, shared source bytes.
# ARGV: value key prefix, new generation, ttl ms. Returns the variants removed.
# Deletes first: under `noeviction` at maxmemory, deleting is allowed and frees room for the SET.
PURGE = """
local members = redis.call('SMEMBERS', KEYS[1])
local removed = 0
for _, member in ipairs(members) do
  removed = removed + redis.call('UNLINK', ARGV[1] .. member)
end
redis.call('DEL', KEYS[1])
redis.call('UNLINK', KEYS[3], KEYS[4])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return removed
"""

_GEN_LEN = struct.Struct(">B")


def pack(generation: bytes, blob: bytes) -> bytes:
    """A stored value: the token of the generation it was computed under, then the entry blob."""
    token = token_of(generation)
    return _GEN_LEN.pack(len(token)) + token + blob


def new_generation(source_id: str) -> str:
    """A generation no other purge or first store anywhere will make: a fresh token, then the
    source id it belongs to."""
    return f"{time.time_ns():x}.{os.getpid():x}.{secrets.token_hex(4)} {source_id}"


def token_of(generation: bytes) -> bytes:
    """The token of a generation key's value (the part values are stamped with)."""
    return generation.partition(b" ")[0]


def source_of(generation: bytes) -> str | None:
    """The source id a generation key's value names; None for one written before ids were."""
    _token, space, source_id = generation.partition(b" ")
    return source_id.decode("utf-8", "surrogatepass") if space else None


def current_blob(generation: bytes | None, value: bytes | None) -> bytes | None:
    """The blob of a value read together with its source's generation, if that generation still
    stands: None when either is missing or the value was stored under another generation."""
    if generation is None or value is None:
        return None
    parts = unpack(value)
    if parts is None or parts[0] != token_of(generation):
        return None
    return parts[1]


def unpack(value: bytes) -> tuple[bytes, bytes] | None:
    """(generation, entry blob), or None for a value that is not ours."""
    if not value:
        return None
    size = value[0]
    if len(value) < 1 + size:
        return None
    return value[1:1 + size], value[1 + size:]
