"""A requests-per-minute and tokens-per-minute budget shared by all workers.

Two token buckets (requests, tokens) live in Redis and are updated atomically by one
Lua script, so every worker process draws from the same budget. Without Redis (the
embedded mode runs in one process) the same buckets are kept in memory.
"""

import asyncio
import threading
import time

import redis

# Buckets refill continuously; capacity is 10 s of budget so the start is not a burst
# of a whole minute that the provider would answer with 429s.
BURST_SECONDS = 10.0

_SCRIPT = f"""
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local rate = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  if rate > 0 then
    local capacity = math.max(rate * {BURST_SECONDS:f}, cost)
    local b = redis.call('HMGET', KEYS[i], 'level', 'ts')
    local level = tonumber(b[1]) or capacity
    local ts = tonumber(b[2]) or now
    level = math.min(capacity, level + (now - ts) * rate)
    if level < cost then wait = math.max(wait, (cost - level) / rate) end
    redis.call('HSET', KEYS[i], 'level', level, 'ts', now)
    redis.call('EXPIRE', KEYS[i], 600)
  end
end
if wait == 0 then
  for i = 1, 2 do
    local rate = tonumber(ARGV[2 * i])
    if rate > 0 then redis.call('HINCRBYFLOAT', KEYS[i], 'level', -tonumber(ARGV[2 * i + 1])) end
  end
end
return tostring(wait)
"""


class RateLimiter:
    def __init__(self, *, key: str, requests_per_minute: int, tokens_per_minute: int, redis_url: str | None):
        self.key = key
        self.request_rate = requests_per_minute / 60.0
        self.token_rate = tokens_per_minute / 60.0
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._script = self._redis.register_script(_SCRIPT) if self._redis else None
        self._local: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.request_rate > 0 or self.token_rate > 0

    def reserve(self, tokens: int) -> float:
        """Take one request and `tokens` from the budget; return 0, or seconds to wait
        before trying again (nothing is taken then)."""
        now = time.time()
        args = [now, self.request_rate, 1, self.token_rate, tokens]
        if self._script is not None:
            return float(self._script(keys=[f"qrelay:rl:{self.key}:req", f"qrelay:rl:{self.key}:tok"], args=args))
        return self._reserve_local(now, [(self.request_rate, 1), (self.token_rate, tokens)])

    def _reserve_local(self, now: float, buckets: list[tuple[float, float]]) -> float:
        with self._lock:
            wait, states = 0.0, []
            for name, (rate, cost) in zip(("req", "tok"), buckets):
                if rate <= 0:
                    continue
                capacity = max(rate * BURST_SECONDS, cost)
                level, ts = self._local.get(name, [capacity, now])
                level = min(capacity, level + (now - ts) * rate)
                if level < cost:
                    wait = max(wait, (cost - level) / rate)
                states.append((name, level, cost))
            for name, level, cost in states:
                self._local[name] = [level - cost if wait == 0 else level, now]
            return wait

    async def acquire(self, *, tokens: int) -> None:
        if not self.active:
            return
        while True:
            wait = self.reserve(tokens)
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 5.0))
