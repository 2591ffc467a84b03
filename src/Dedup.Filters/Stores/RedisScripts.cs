namespace Dedup.Stores;

/// <summary>
/// The claim protocol's transitions, one Lua script each (README, "The claim protocol"). KEYS[1] is the record;
/// values are in ARGV. Times come from the server's clock (TIME), in milliseconds.
/// </summary>
/// <remarks>
/// StackExchange.Redis sends these by SHA (EVALSHA) and re-sends the text on NOSCRIPT, so SCRIPT FLUSH and
/// restarts are invisible. Renew, complete and release carry <c>allow-oom</c> so an owner can finish or give
/// back its claim at maxmemory; claim does not, so a new claim then fails closed.
/// </remarks>
internal static class RedisScripts
{
    // Reply: {code, epoch[, leaseMs | result | storedFingerprint]}; codes are ClaimOutcome values.
    // ARGV: owner, fingerprint, leaseMs, retentionMs.
    public const string Claim = """
        local key = KEYS[1]
        local owner, fp = ARGV[1], ARGV[2]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'd', 'f', 'r')
        local s, o, e, d, f = v[1], v[2], tonumber(v[3]) or 0, tonumber(v[4]) or 0, v[5]
        local mismatch = f and f ~= '' and fp ~= '' and f ~= fp
        if s == 'c' then
          if mismatch then return {5, e, f} end
          return {4, e, v[6] or ''}
        end
        if s == 'p' then
          if o == owner then
            redis.call('HSET', key, 'd', now + tonumber(ARGV[3]))
            return {1, e}
          end
          if mismatch then return {5, e, f} end
          if d > now then
            redis.call('HSET', key, 'w', '1')
            return {3, e, d - now}
          end
        end
        local code = 1
        if s == 'p' then code = 2 end
        e = e + 1
        redis.call('HSET', key, 's', 'p', 'o', owner, 'e', e, 'd', now + tonumber(ARGV[3]), 'f', fp)
        redis.call('PEXPIRE', key, ARGV[4])
        return {code, e}
        """;

    // ARGV: owner, epoch, leaseMs. Reply: 1 ok, 0 lost.
    public const string Renew = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e')
        if v[1] ~= 'p' or v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return 0 end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('HSET', key, 'd', now + tonumber(ARGV[3]))
        return 1
        """;

    // ARGV: owner, epoch, result, retentionMs, channel. Reply: 1 ok (also for a repeat), 0 lost.
    public const string Complete = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'w')
        if v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return 0 end
        if v[1] == 'c' then return 1 end
        if v[1] ~= 'p' then return 0 end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if ARGV[3] ~= '' then
          redis.call('HSET', key, 's', 'c', 't', now, 'r', ARGV[3])
        else
          redis.call('HSET', key, 's', 'c', 't', now)
        end
        redis.call('HDEL', key, 'd', 'w')
        redis.call('PEXPIRE', key, ARGV[4])
        if v[4] then redis.call('PUBLISH', ARGV[5], key) end
        return 1
        """;

    // ARGV: owner, epoch, channel. Reply: 1 ok (also for a repeat), 0 lost.
    public const string Release = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'w')
        if v[2] ~= ARGV[1] or v[3] ~= ARGV[2] then return 0 end
        if v[1] == 'a' then return 1 end
        if v[1] ~= 'p' then return 0 end
        redis.call('HSET', key, 's', 'a')
        redis.call('HDEL', key, 'd', 'f', 'w')
        if v[4] then redis.call('PUBLISH', ARGV[3], key) end
        return 1
        """;
}
