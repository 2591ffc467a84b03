namespace Dedup;

/// <summary>The base of every exception Dedup throws.</summary>
public abstract class DedupException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected DedupException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A failure after which the message must be tried again later (not acknowledged, not moved to the error
/// queue): the filter's error handling returns such messages to the broker for redelivery.
/// </summary>
public abstract class DedupTransientException : DedupException
{
    /// <summary>Creates the exception.</summary>
    protected DedupTransientException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The store (Redis) could not be reached or did not answer in time. Fail-closed: the message is redelivered.</summary>
public sealed class DedupStoreUnavailableException : DedupTransientException
{
    /// <summary>Creates the exception.</summary>
    public DedupStoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Fewer Redis replicas than <see cref="DedupDurability.Replicas"/> confirmed a dedup write within
/// <see cref="DedupDurability.Timeout"/> (<see cref="ReplicationTimeoutPolicy.Fail"/>): the message is redelivered,
/// never acknowledged. A completion stays recorded on the primary (the work happened); a claim was released before the
/// work ran.
/// </summary>
public sealed class DedupNotReplicatedException : DedupTransientException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The store key.</param>
    /// <param name="operation">What was not confirmed: <c>claim</c>, <c>complete</c> or <c>duplicate</c> (the record a duplicate relies on).</param>
    /// <param name="acknowledged">How many replicas confirmed it (-1 when the wait itself failed).</param>
    /// <param name="durability">The options that asked for it.</param>
    /// <param name="innerException">Why the wait failed, when it did not just run out.</param>
    public DedupNotReplicatedException(string key, string operation, int acknowledged, DedupDurability durability, Exception? innerException = null)
        : base(Describe(key, operation, acknowledged, durability, innerException), innerException)
    {
        ArgumentNullException.ThrowIfNull(durability);
        Key = key;
        Operation = operation;
        Acknowledged = acknowledged;
        Required = durability.Replicas;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }

    /// <summary>What was not confirmed: <c>claim</c>, <c>complete</c> or <c>duplicate</c>.</summary>
    public string Operation { get; }

    /// <summary>How many replicas confirmed the write (-1 when the wait itself failed).</summary>
    public int Acknowledged { get; }

    /// <summary>How many were required (<see cref="DedupDurability.Replicas"/>).</summary>
    public int Required { get; }

    static string Describe(string key, string operation, int acknowledged, DedupDurability? durability, Exception? innerException)
    {
        ArgumentNullException.ThrowIfNull(durability);
        var what = operation switch
        {
            "claim" => $"The dedup claim on '{key}'",
            "complete" => $"The dedup completion of '{key}'",
            _ => $"The record of '{key}' a duplicate was to be skipped on",
        };
        var confirmed = acknowledged < 0
            ? $"could not be confirmed by any replica ({innerException?.Message})"
            : $"was confirmed by {acknowledged} of the {durability.Replicas} replicas required (Dedup:Durability:Replicas) within {durability.Timeout} (Dedup:Durability:Timeout)";
        var kept = operation switch
        {
            "claim" => "The claim was released and the work did not run",
            "complete" => "The work ran and its record stays on the primary",
            _ => "The duplicate was not acknowledged",
        };
        return $"{what} {confirmed}. {kept}; the attempt failed and must be retried (a message is redelivered, not acknowledged). Check the replicas (INFO replication on the primary: connected_slaves, each replica's lag), raise Dedup:Durability:Timeout, or set Dedup:Durability:OnTimeout = Accept to acknowledge anyway.";
    }
}

/// <summary>Another copy of the message was still in flight when the bounded wait ran out; the message is redelivered.</summary>
public sealed class DedupInFlightTimeoutException : DedupTransientException
{
    /// <summary>Creates the exception.</summary>
    public DedupInFlightTimeoutException(string key, TimeSpan waited)
        : base($"Another copy of this message (key '{key}') was still in progress after waiting {waited.TotalMilliseconds:0} ms; the message will be redelivered. Raise DedupOptions.InFlightWait if the consumer regularly runs longer.")
    {
        Key = key;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }
}

/// <summary>
/// The claim was lost while the work ran (a takeover after the lease expired, or the key was removed): the
/// result was not recorded, and the message is redelivered, where it meets the new owner's record.
/// </summary>
public sealed class DedupLeaseLostException : DedupTransientException
{
    /// <summary>Creates the exception.</summary>
    public DedupLeaseLostException(string key, long epoch, Exception? innerException = null)
        : base($"The claim on '{key}' (epoch {epoch}) was lost while the work ran: another owner took it over after the lease expired, or the key was removed. The result was not recorded. Keep DedupOptions.Lease well above pauses the process can suffer.", innerException)
    {
        Key = key;
        Epoch = epoch;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }

    /// <summary>The epoch the lost claim had.</summary>
    public long Epoch { get; }
}

/// <summary>A record exists for the key, but for another payload (the same id reused for a different message).</summary>
public sealed class DedupConflictException : DedupException
{
    /// <summary>Creates the exception.</summary>
    public DedupConflictException(string key, string fingerprint, string storedFingerprint)
        : base($"Dedup conflict on '{key}': this message's fingerprint is {fingerprint} but the record holds {storedFingerprint}. The same id was used for a different payload; the message was not processed.")
    {
        Key = key;
        Fingerprint = fingerprint;
        StoredFingerprint = storedFingerprint;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }

    /// <summary>This message's fingerprint.</summary>
    public string Fingerprint { get; }

    /// <summary>The fingerprint stored in the record.</summary>
    public string StoredFingerprint { get; }
}

/// <summary>No dedup key could be built for the message (no MessageId, an empty or over-long custom key).</summary>
public sealed class DedupKeyException : DedupException
{
    /// <summary>Creates the exception.</summary>
    public DedupKeyException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The takeover check threw (or was cancelled) after a claim was taken over, so nobody knows whether the previous
/// owner's work happened. Nothing ran and nothing was recorded; the claim was abandoned (not released), so the
/// redelivery is a takeover too and asks the check again.
/// </summary>
public sealed class DedupTakeoverCheckException : DedupTransientException
{
    /// <summary>Creates the exception.</summary>
    public DedupTakeoverCheckException(string key, long epoch, Exception innerException)
        : base($"The takeover check for '{key}' (epoch {epoch}) failed: {innerException.Message.TrimEnd('.')}. Nothing ran; the message will be redelivered and the check asked again.", innerException)
    {
        Key = key;
        Epoch = epoch;
    }

    /// <summary>The store key.</summary>
    public string Key { get; }

    /// <summary>The epoch of the claim that asked.</summary>
    public long Epoch { get; }
}
