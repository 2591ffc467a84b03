using System.Collections.Concurrent;

namespace Dedup.Pipeline;

/// <summary>
/// A receive-context payload: the keys whose consumers failed during this delivery. When the delivery faults for
/// good (the error pipe runs) and <see cref="DedupOptions.RecordFaults"/> is on, their fault is recorded.
/// </summary>
internal sealed class FailedClaims
{
    public ConcurrentDictionary<string, string> Fingerprints { get; } = new(StringComparer.Ordinal);
}
