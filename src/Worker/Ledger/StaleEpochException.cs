namespace Dedup.Worker.Ledger;

/// <summary>
/// A write from a claim older than the newest the ledger has seen for its dedup key: the claim was taken over (this
/// owner paused or its lease expired) and the new owner's check or write came first. Nothing was written.
/// </summary>
public sealed class StaleEpochException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StaleEpochException(string key, long epoch, long storedEpoch)
        : base($"Ledger write for dedup key '{key}' at epoch {epoch} rejected: the ledger has seen epoch {storedEpoch} for it. This claim was taken over; its work is not recorded.")
    {
        Key = key;
        Epoch = epoch;
        StoredEpoch = storedEpoch;
    }

    /// <summary>The dedup key.</summary>
    public string Key { get; }

    /// <summary>The epoch of the rejected write.</summary>
    public long Epoch { get; }

    /// <summary>The highest epoch the ledger has seen for the key.</summary>
    public long StoredEpoch { get; }
}
