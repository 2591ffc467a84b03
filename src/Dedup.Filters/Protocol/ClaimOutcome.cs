namespace Dedup.Protocol;

/// <summary>What a claim found, as decided atomically by the store (one Lua script on Redis).</summary>
internal enum ClaimOutcome
{
    /// <summary>The key was absent (or released): the caller owns it now and must run the work.</summary>
    Claimed = 1,

    /// <summary>The previous owner's lease had expired: the caller owns it now, with a higher epoch.</summary>
    TakenOver = 2,

    /// <summary>Another owner holds a live lease; <see cref="ClaimResult.LeaseRemaining"/> says for how long.</summary>
    Busy = 3,

    /// <summary>The work already ran: <see cref="ClaimResult.Result"/> holds its result record.</summary>
    Duplicate = 4,

    /// <summary>A record exists for the key with another payload fingerprint.</summary>
    Conflict = 5,
}
