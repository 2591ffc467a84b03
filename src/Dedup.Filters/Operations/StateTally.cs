namespace Dedup.Operations;

/// <summary>Counts sampled records by state, and those claimed within the rate window, as a store walks them.</summary>
internal sealed class StateTally
{
    readonly long _windowStartMicroseconds;
    long _inProgress, _leaseExpired, _completed, _released, _forgotten;

    /// <param name="now">The store's clock.</param>
    /// <param name="window">The rate window ending at <paramref name="now"/>.</param>
    public StateTally(DateTimeOffset now, TimeSpan window) =>
        _windowStartMicroseconds = (now - window - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

    public long ClaimedInWindow { get; private set; }

    public long Records => _inProgress + _leaseExpired + _completed + _released + _forgotten;

    public void Add(DedupRecordState state, bool leaseExpired, long epoch)
    {
        switch (state)
        {
            case DedupRecordState.InProgress when leaseExpired:
                _leaseExpired++;
                break;
            case DedupRecordState.InProgress:
                _inProgress++;
                break;
            case DedupRecordState.Completed:
                _completed++;
                break;
            case DedupRecordState.Released:
                _released++;
                break;
            case DedupRecordState.Forgotten:
                _forgotten++;
                return; // a tombstone's epoch is the forgotten claim's: no new record
            default:
                return;
        }

        // An epoch is the store's clock in microseconds at the claim (or one above the previous epoch, which is older).
        if (epoch >= _windowStartMicroseconds)
            ClaimedInWindow++;
    }

    public DedupStateCounts Counts => new(_inProgress, _leaseExpired, _completed, _released, _forgotten);
}
