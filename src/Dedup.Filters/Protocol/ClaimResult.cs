namespace Dedup.Protocol;

/// <summary>The reply of one claim.</summary>
/// <param name="Outcome">What the claim found.</param>
/// <param name="Epoch">The key's fencing epoch: the caller's own when it now owns the key, else the current holder's.</param>
/// <param name="LeaseRemaining">For <see cref="ClaimOutcome.Busy"/>: how long the current owner's lease still runs.</param>
/// <param name="Result">For <see cref="ClaimOutcome.Duplicate"/>: the stored result record (empty when none was stored).</param>
/// <param name="StoredFingerprint">For <see cref="ClaimOutcome.Conflict"/>: the fingerprint already stored for the key.</param>
/// <param name="PreviousEpoch">
/// For <see cref="ClaimOutcome.TakenOver"/>: the epoch of the owner whose lease ran out; for <see cref="ClaimOutcome.Claimed"/>
/// after a release: the epoch of the owner that released the key (its work failed, maybe after its side effect); else 0.
/// Either way a previous owner's work may have happened, and the takeover check is asked.
/// </param>
internal readonly record struct ClaimResult(
    ClaimOutcome Outcome,
    long Epoch,
    TimeSpan LeaseRemaining = default,
    ReadOnlyMemory<byte> Result = default,
    string? StoredFingerprint = null,
    long PreviousEpoch = 0)
{
    /// <summary>True when the caller now owns the key (claimed or taken over).</summary>
    public bool IsOwner => Outcome is ClaimOutcome.Claimed or ClaimOutcome.TakenOver;

    /// <summary>True when the caller owns the key and a previous owner's work may have happened (a takeover, or a claim after a release).</summary>
    public bool MayFollowWork => IsOwner && PreviousEpoch > 0;
}
