namespace Dedup.Protocol;

/// <summary>The reply of one claim.</summary>
/// <param name="Outcome">What the claim found.</param>
/// <param name="Epoch">The key's fencing epoch: the caller's own when it now owns the key, else the current holder's.</param>
/// <param name="LeaseRemaining">For <see cref="ClaimOutcome.Busy"/>: how long the current owner's lease still runs.</param>
/// <param name="Result">For <see cref="ClaimOutcome.Duplicate"/>: the stored result record (empty when none was stored).</param>
/// <param name="StoredFingerprint">For <see cref="ClaimOutcome.Conflict"/>: the fingerprint already stored for the key.</param>
/// <param name="PreviousEpoch">For <see cref="ClaimOutcome.TakenOver"/>: the epoch of the owner whose lease ran out.</param>
public readonly record struct ClaimResult(
    ClaimOutcome Outcome,
    long Epoch,
    TimeSpan LeaseRemaining = default,
    ReadOnlyMemory<byte> Result = default,
    string? StoredFingerprint = null,
    long PreviousEpoch = 0)
{
    /// <summary>True when the caller now owns the key (claimed or taken over).</summary>
    public bool IsOwner => Outcome is ClaimOutcome.Claimed or ClaimOutcome.TakenOver;
}
