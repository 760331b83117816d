"""The two Lua scripts that make a store and a purge atomic per source (one slot, one call).

A purge deletes every variant in the source's index and sets a new generation; a store only
lands if the generation is still the one read when its transform started. So a transform that
was running while its source was purged can never put its (stale) result back afterwards.
"""

from __future__ import annotations

import struct

# KEYS: value, index, generation.  ARGV: expected generation, value, ttl ms, index member.
STORE = """
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
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
    """A stored value: the generation it was computed under, then the entry blob."""
    return _GEN_LEN.pack(len(generation)) + generation + blob


def unpack(value: bytes) -> tuple[bytes, bytes] | None:
    """(generation, entry blob), or None for a value that is not ours."""
    if not value:
        return None
    size = value[0]
    if len(value) < 1 + size:
        return None
    return value[1:1 + size], value[1 + size:]
