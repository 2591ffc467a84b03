using Dedup.Diagnostics;

namespace Dedup.Pipeline;

/// <summary>
/// A receive-context payload that <see cref="DedupErrorFilter"/> adds with <see cref="DedupOptions.RecordFaults"/>: the
/// claims whose consumers failed during this delivery, still held (renewing) instead of released, so no copy can claim
/// the key before the error pipe has decided. When the delivery faults for good, the filter completes each with the
/// fault (one fenced transition: same owner, same epoch); otherwise it releases them. A retry within the delivery
/// releases its owner's held claim before claiming again.
/// </summary>
internal sealed class FailedClaims
{
    readonly Lock _lock = new();
    readonly Dictionary<string, ConsumerClaim> _held = new(StringComparer.Ordinal);

    public void Hold(ConsumerClaim claim)
    {
        lock (_lock)
            _held[claim.Key] = claim;
    }

    /// <summary>The held claim of <paramref name="key"/>, now the caller's to settle; null when none is held.</summary>
    public ConsumerClaim? Take(string key)
    {
        lock (_lock)
            return _held.Remove(key, out var claim) ? claim : null;
    }

    /// <summary>Every held claim, now the caller's to settle.</summary>
    public ConsumerClaim[] TakeAll()
    {
        lock (_lock)
        {
            ConsumerClaim[] all = [.. _held.Values];
            _held.Clear();
            return all;
        }
    }

    /// <summary>Releases every held claim (the message is not faulted for good: it runs again).</summary>
    public async Task ReleaseAllAsync(DedupMetrics metrics)
    {
        foreach (var claim in TakeAll())
            await claim.ReleaseAsync(metrics).ConfigureAwait(false);
    }
}
