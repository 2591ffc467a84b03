using Dedup.Operations;

namespace Dedup.Stores;

/// <summary>
/// The claim protocol's transitions, one Lua script each (README, "The claim protocol"). KEYS[1] is the record;
/// values are in ARGV. Times come from the server's clock (TIME): deadlines in milliseconds, new epochs in
/// microseconds.
/// </summary>
/// <remarks>
/// The store sends these by their SHA-1, computed once (<see cref="RedisScript"/>), and sends the text again when the
/// server answers NOSCRIPT, so SCRIPT FLUSH, restarts and failovers are invisible. Renew, complete and release carry
/// <c>allow-oom</c> so an owner can finish or give back its claim at maxmemory; claim does not, so a new claim then
/// fails closed. The operator's inspect and forget (<see cref="Operations.DedupRecords"/>) run at maxmemory too.
/// <para>
/// Epochs never repeat for a key, even after its record expired or was deleted (issue 9): a new owner's epoch is
/// the larger of the stored epoch + 1 and the server's time in microseconds, a source that only grows while one
/// server's clock does (no script runs twice in the same microsecond). Epochs are compared as numbers; they stay
/// below 2^53, so Lua's doubles hold them exactly. A completed record keeps no completion time: its epoch already
/// says when its owner claimed it, and the 8 bytes the larger epoch costs are paid back (a record without a reply
/// stays under 250 bytes).
/// </para>
/// <para>
/// An in-progress key lives at least one lease past its lease deadline (claim and renew raise its TTL to twice the
/// lease when it is shorter), so an owner that runs longer than the retention keeps its key, and a copy that waited
/// for the deadline still finds the claim and takes it over (logged) instead of claiming afresh.
/// </para>
/// <para>
/// What a script costs on the server (issue 12; instructions per call under callgrind, Redis 7.0): each
/// <c>redis.call</c> 5 to 9 thousand, each argument or field asked for about 1 thousand more, a returned table 4.6
/// thousand (Redis probes it for err and ok fields), a Lua number passed to a command 4.4 thousand (Redis 7.0 formats
/// it with <c>%.17g</c>; <c>string.format('%d')</c> writes the same digits for an integer below 2^53 for 2.7 thousand),
/// <c>tonumber()</c> of a string 1.75 thousand (it parses twice; arithmetic on the string parses once). So the hot
/// paths ask only for the fields they read (claim reads the owner's fields in a second call, only for a key in
/// progress), a plain claim answers its bare epoch, the client sends the new claim's TTL ready-made, and complete
/// blanks the lease deadline in its one HSET instead of an HDEL (an empty <c>d</c> is never read, and it keeps a
/// completed record in the same allocation size as without it). Records stay field for field what earlier versions
/// wrote and read, so old and new workers can share one Redis (<c>RedisScriptUpgradeTests</c>).
/// </para>
/// </remarks>
internal static class RedisScripts
{
    // Reply: the epoch alone for a plain claim (code 1, no previous epoch); otherwise
    // {code, epoch[, leaseMs | result | storedFingerprint | previousEpoch]}, codes being ClaimOutcome values. A claim
    // (code 1) names a previous epoch when it follows a release; a takeover (code 2) always does.
    // ARGV: owner, fingerprint, leaseMs, ttlMs (the retention, at least twice the lease: the new claim's TTL).
    public const string Claim = """
        local key = KEYS[1]
        local owner, fp = ARGV[1], ARGV[2]
        -- A duplicate reads these four fields and runs nothing else.
        local v = redis.call('HMGET', key, 's', 'e', 'f', 'r')
        local s, e, f = v[1], tonumber(v[2]) or 0, v[3]
        local mismatch = f and f ~= '' and fp ~= '' and f ~= fp
        if s == 'c' then
          if mismatch then return {5, e, f} end
          return {4, e, v[4] or ''}
        end
        -- The clock only after a completed record answered: a duplicate costs one call inside the script. Arithmetic
        -- converts a string to a number once, tonumber() twice.
        local lease = ARGV[3] + 0
        local t = redis.call('TIME')
        local sec, usec = t[1] + 0, t[2] + 0
        local now = sec * 1000 + math.floor(usec / 1000)
        if s == 'p' then
          local p = redis.call('HMGET', key, 'o', 'd', 'k')
          if p[1] == owner then
            redis.call('HSET', key, 'd', string.format('%d', now + lease))
            if redis.call('PTTL', key) < 2 * lease then redis.call('PEXPIRE', key, 2 * lease) end
            local k = tonumber(p[3]) or 0
            if k > 0 then return {2, e, k} end
            if k < 0 then return {1, e, -k} end
            return e
          end
          -- An expired claim is taken over whatever its fingerprint: its payload never completed (issue 9).
          local d = tonumber(p[2]) or 0
          if d > now then
            if mismatch then return {5, e, f} end
            redis.call('HSET', key, 'w', '1')
            return {3, e, d - now}
          end
        end
        local previous = e
        e = math.max(e + 1, sec * 1000000 + usec)
        local epoch, deadline = string.format('%d', e), string.format('%d', now + lease)
        if s == 'p' then
          -- A takeover: 'k' keeps the previous owner's epoch until complete or release, so a retry of this claim
          -- (same owner token, reply lost) still answers "taken over" and the takeover check is not skipped.
          redis.call('HSET', key, 's', 'p', 'o', owner, 'e', epoch, 'd', deadline, 'f', fp, 'k', string.format('%d', previous))
          redis.call('PEXPIRE', key, ARGV[4])
          return {2, e, previous}
        end
        if s == 'a' or s == 'x' then
          -- Claimed after a release: the released owner's work may have run (it failed after its side effect), so the
          -- reply names its epoch and the takeover check is asked too; 'k' < 0 keeps it for a retry of this claim.
          -- After an operator's forget ('x') likewise: the forgotten record's work may have run.
          redis.call('HSET', key, 's', 'p', 'o', owner, 'e', epoch, 'd', deadline, 'f', fp, 'k', string.format('%d', -previous))
          redis.call('PEXPIRE', key, ARGV[4])
          return {1, e, previous}
        end
        redis.call('HSET', key, 's', 'p', 'o', owner, 'e', epoch, 'd', deadline, 'f', fp)
        redis.call('PEXPIRE', key, ARGV[4])
        return e
        """;

    // ARGV: owner, epoch, leaseMs. Reply: 1 ok, 0 lost.
    public const string Renew = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e')
        if v[1] ~= 'p' or v[2] ~= ARGV[1] or tonumber(v[3]) ~= tonumber(ARGV[2]) then return 0 end
        local lease = tonumber(ARGV[3])
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('HSET', key, 'd', now + lease)
        if redis.call('PTTL', key) < 2 * lease then redis.call('PEXPIRE', key, 2 * lease) end
        return 1
        """;

    // ARGV: owner, epoch, result, retentionMs, channel. Reply: 1 ok (also for a repeat), 0 lost.
    public const string Complete = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'w', 'k')
        -- The same epoch is the same text unless a writer spelt it otherwise; then the numbers decide.
        if v[2] ~= ARGV[1] or (v[3] ~= ARGV[2] and tonumber(v[3]) ~= tonumber(ARGV[2])) then return 0 end
        if v[1] == 'c' then return 1 end
        if v[1] ~= 'p' then return 0 end
        -- The lease deadline is blanked in the same HSET rather than deleted by a call of its own.
        if ARGV[3] ~= '' then
          redis.call('HSET', key, 's', 'c', 'd', '', 'r', ARGV[3])
        else
          redis.call('HSET', key, 's', 'c', 'd', '')
        end
        if v[4] or v[5] then redis.call('HDEL', key, 'w', 'k') end
        redis.call('PEXPIRE', key, ARGV[4])
        if v[4] then redis.call('PUBLISH', ARGV[5], key) end
        return 1
        """;

    // ARGV: owner, epoch, channel. Reply: 1 ok (also for a repeat), 0 lost.
    public const string Release = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'o', 'e', 'w')
        if v[2] ~= ARGV[1] or tonumber(v[3]) ~= tonumber(ARGV[2]) then return 0 end
        if v[1] == 'a' then return 1 end
        if v[1] ~= 'p' then return 0 end
        redis.call('HSET', key, 's', 'a')
        redis.call('HDEL', key, 'd', 'f', 'w', 'k')
        if v[4] then redis.call('PUBLISH', ARGV[3], key) end
        return 1
        """;

    // The operator's read (DedupRecords.InspectAsync): the record's fields, its TTL and the server's clock in one reply,
    // so the lease left and the TTL are read at the same instant. Reads only, so it also runs at maxmemory.
    // No ARGV. Reply: {s, o, e, d, f, r, k, w, pttl, now ms}; a missing field is ''.
    public const string Inspect = """
        #!lua flags=no-writes,allow-oom
        local v = redis.call('HMGET', KEYS[1], 's', 'o', 'e', 'd', 'f', 'r', 'k', 'w')
        local t = redis.call('TIME')
        local reply = {}
        for i = 1, 8 do reply[i] = v[i] or '' end
        reply[9] = redis.call('PTTL', KEYS[1])
        reply[10] = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        return reply
        """;

    // The operator's forget (DedupRecords.ForgetAsync): the record becomes a tombstone ('s' = 'x') that keeps only its
    // epoch, for the retention window. A plain DEL would leave the next epoch to the server's clock alone, and a claim
    // after it would be a fresh one: no takeover check, so a paused owner of the forgotten epoch could still land its
    // fenced write downstream before the new owner's. The tombstone keeps the epoch floor (the next epoch is above it
    // even if the clock stepped back), and the next claim names the forgotten epoch as after a release, so a registered
    // takeover check is asked and raises the downstream fence before the work runs again. It refuses a live lease
    // unless forced; a forced forget fences the owner off (its renew, complete and release find no owner and answer
    // lost) and wakes its waiters. allow-oom: it never grows the record, and an operator may need it at maxmemory.
    // ARGV: force ('1' or '0'), retentionMs, channel.
    // Reply: {0, 0} no record; {1, e} already forgotten; {2, e, leaseMs} a live lease (nothing written); {3, e, s} forgotten.
    public const string Forget = """
        #!lua flags=allow-oom
        local key = KEYS[1]
        local v = redis.call('HMGET', key, 's', 'e', 'd', 'w')
        local s, e = v[1], v[2] or '0'
        if not s then return {0, 0} end
        if s == 'x' then return {1, tonumber(e)} end
        if s == 'p' and ARGV[1] ~= '1' then
          local t = redis.call('TIME')
          local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
          local d = tonumber(v[3]) or 0
          if d > now then return {2, tonumber(e), d - now} end
        end
        redis.call('DEL', key)
        redis.call('HSET', key, 's', 'x', 'e', e)
        redis.call('PEXPIRE', key, ARGV[2])
        if v[4] then redis.call('PUBLISH', ARGV[3], key) end
        return {3, tonumber(e), s}
        """;

    // No ARGV. Rewrites the record's state with its own value: nothing changes, but the write is replicated after
    // every earlier write to the key, so a WAIT sent behind it on the same connection confirms the record as it is now
    // (ReplicationBarrier). WAIT's documented contract covers the connection's own writes; Redis 7.0 happens to count
    // everything written before the connection's last command of any kind, which no test here can tell apart, so the
    // touch keeps to the contract. Sent as EVAL text, never by SHA: a NOSCRIPT retry would land behind the WAIT.
    // Reply: 1 when the key exists, 0 (nothing written) when it does not.
    public const string Touch = """
        #!lua flags=allow-oom
        local s = redis.call('HGET', KEYS[1], 's')
        if not s then return 0 end
        redis.call('HSET', KEYS[1], 's', s)
        return 1
        """;

    /// <summary>The state a record's field <c>s</c> stands for ('' or missing: no record).</summary>
    public static DedupRecordState StateOf(string? code) => code switch
    {
        "p" => DedupRecordState.InProgress,
        "c" => DedupRecordState.Completed,
        "a" => DedupRecordState.Released,
        "x" => DedupRecordState.Forgotten,
        _ => DedupRecordState.Absent,
    };
}
