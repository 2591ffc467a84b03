namespace Dedup;

/// <summary>
/// The claim the running work holds: its key, its fencing epoch and a token cancelled when the lease is lost.
/// Consumers get it with <c>context.GetDedupClaim()</c>; pass <see cref="Epoch"/> to a downstream store that
/// rejects writes from a stale (lower) epoch to close the window a dedup store cannot.
/// </summary>
public sealed class DedupClaim
{
    internal DedupClaim(string key, long epoch, bool takenOver, CancellationToken leaseLost)
    {
        Key = key;
        Epoch = epoch;
        TakenOver = takenOver;
        LeaseLost = leaseLost;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }

    /// <summary>The fencing epoch: grows with every new owner of the key.</summary>
    public long Epoch { get; }

    /// <summary>True when this claim took over an expired lease (the previous owner crashed or paused, maybe after its side effect).</summary>
    public bool TakenOver { get; }

    /// <summary>Cancelled when the lease is lost (a takeover or the key removed): stop the work, it will not be recorded.</summary>
    public CancellationToken LeaseLost { get; }
}
