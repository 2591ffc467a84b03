namespace Dedup.Filters.Tests.Redis;

/// <summary>
/// The claim and complete scripts as workers released before issue 12 send them, text for text (commit 422ac7c). A
/// rolling upgrade runs them next to today's scripts on one Redis, so the tests play the earlier worker with them.
/// </summary>
internal static class ScriptsBeforeIssue12
{
    // ARGV: owner, fingerprint, leaseMs, retentionMs. Reply: {code, epoch[, leaseMs | result | fingerprint | previousEpoch]}.
    public const string Claim = """
        local key = KEYS[1]
        local owner, fp = ARGV[1], ARGV[2]
        local lease, retention = tonumber(ARGV[3]), tonumber(ARGV[4])
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'd', 'f', 'r', 'k')
        local s, o, e, d, f = v[1], v[2], tonumber(v[3]) or 0, tonumber(v[4]) or 0, v[5]
        local mismatch = f and f ~= '' and fp ~= '' and f ~= fp
        if s == 'c' then
          if mismatch then return {5, e, f} end
          return {4, e, v[6] or ''}
        end
        -- The clock only after a completed record answered: a duplicate costs one call inside the script.
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        if s == 'p' then
          if o == owner then
            redis.call('HSET', key, 'd', now + lease)
            if redis.call('PTTL', key) < 2 * lease then redis.call('PEXPIRE', key, 2 * lease) end
            local k = tonumber(v[7]) or 0
            if k > 0 then return {2, e, k} end
            if k < 0 then return {1, e, -k} end
            return {1, e}
          end
          -- An expired claim is taken over whatever its fingerprint: its payload never completed (issue 9).
          if d > now then
            if mismatch then return {5, e, f} end
            redis.call('HSET', key, 'w', '1')
            return {3, e, d - now}
          end
        end
        local previous = e
        e = math.max(e + 1, tonumber(t[1]) * 1000000 + tonumber(t[2]))
        if s == 'p' then
          -- A takeover: 'k' keeps the previous owner's epoch until complete or release, so a retry of this claim
          -- (same owner token, reply lost) still answers "taken over" and the takeover check is not skipped.
          redis.call('HSET', key, 's', 'p', 'o', owner, 'e', e, 'd', now + lease, 'f', fp, 'k', previous)
          redis.call('PEXPIRE', key, math.max(retention, 2 * lease))
          return {2, e, previous}
        end
        if s == 'a' or s == 'x' then
          -- Claimed after a release: the released owner's work may have run (it failed after its side effect), so the
          -- reply names its epoch and the takeover check is asked too; 'k' < 0 keeps it for a retry of this claim.
          -- After an operator's forget ('x') likewise: the forgotten record's work may have run.
          redis.call('HSET', key, 's', 'p', 'o', owner, 'e', e, 'd', now + lease, 'f', fp, 'k', -previous)
          redis.call('PEXPIRE', key, math.max(retention, 2 * lease))
          return {1, e, previous}
        end
        redis.call('HSET', key, 's', 'p', 'o', owner, 'e', e, 'd', now + lease, 'f', fp)
        redis.call('PEXPIRE', key, math.max(retention, 2 * lease))
        return {1, e}
        """;

    // ARGV: owner, epoch, result, retentionMs, channel. Reply: 1 ok, 0 lost.
    public const string Complete = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'w')
        if v[2] ~= ARGV[1] or tonumber(v[3]) ~= tonumber(ARGV[2]) then return 0 end
        if v[1] == 'c' then return 1 end
        if v[1] ~= 'p' then return 0 end
        if ARGV[3] ~= '' then
          redis.call('HSET', key, 's', 'c', 'r', ARGV[3])
        else
          redis.call('HSET', key, 's', 'c')
        end
        redis.call('HDEL', key, 'd', 'w', 'k')
        redis.call('PEXPIRE', key, ARGV[4])
        if v[4] then redis.call('PUBLISH', ARGV[5], key) end
        return 1
        """;
}
