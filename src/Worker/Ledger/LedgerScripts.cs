namespace Dedup.Worker.Ledger;

/// <summary>
/// The ledger's two transitions, one Lua script each; every key a script touches is in <c>KEYS</c> and carries the same
/// hash tag (<see cref="LedgerKeys"/>). A fence is a hash per dedup key: <c>seen</c>, the highest epoch a write or a
/// takeover check brought; <c>applied</c>, the epoch whose write applied the effect; <c>reply</c>, the reply it stored.
/// Epochs stay below 2^53, so Lua's numbers compare them exactly; they are stored as sent.
/// </summary>
internal static class LedgerScripts
{
    // KEYS: fence, executions, entries (the executions key again when there is no entry).
    // ARGV: epoch ('' when not deduplicated), fence TTL ms, data TTL ms, entry ('' for none), entries kept, reply ('' for none).
    // Reply: the executions after this one, or -seen when the epoch is lower than one the fence has seen (nothing written).
    // A write at an epoch at or above 'seen' applies, even when an earlier epoch applied too: without a takeover check a
    // repeat stays visible as a second execution.
    public const string Write = """
        #!lua
        if ARGV[1] ~= '' then
          local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0')
          if tonumber(ARGV[1]) < seen then return -seen end
          redis.call('HSET', KEYS[1], 'seen', ARGV[1], 'applied', ARGV[1])
          if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reply', ARGV[6]) end
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        local n = redis.call('INCR', KEYS[2])
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        if ARGV[4] ~= '' then
          redis.call('RPUSH', KEYS[3], ARGV[4])
          redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
          redis.call('PEXPIRE', KEYS[3], ARGV[3])
        end
        return n
        """;

    // KEYS: fence. ARGV: the new owner's epoch, fence TTL ms. Reply: {applied epoch or 0, stored reply or ''}.
    // The takeover check: answers and raises 'seen' in one step, so an older owner's write lands either before (seen
    // here: applied) or after (refused by Write: stale).
    public const string TakeOver = """
        #!lua
        local v = redis.call('HMGET', KEYS[1], 'seen', 'applied', 'reply')
        if tonumber(ARGV[1]) > (tonumber(v[1]) or 0) then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return {tonumber(v[2]) or 0, v[3] or ''}
        """;
}
