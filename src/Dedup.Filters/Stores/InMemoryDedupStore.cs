using Dedup.Operations;
using Dedup.Protocol;

namespace Dedup.Stores;

/// <summary>
/// The claim protocol in process memory: the embedded default and single-process use. Same contract as the Redis
/// store (the contract suite runs against both); records vanish with the process.
/// </summary>
/// <remarks>
/// New epochs come from one source per store that only grows: the larger of the last epoch this store issued + 1
/// and the clock in microseconds, so an epoch never repeats for a key even after its record expired or was removed.
/// </remarks>
internal sealed class InMemoryDedupStore : IDedupStore, IDedupRecordStore, IDisposable
{
    readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    readonly Lock _lock = new();
    readonly WatchRegistry _watches = new();
    readonly TimeProvider _time;
    readonly ITimer _sweeper;
    long _lastEpoch;

    public InMemoryDedupStore(TimeProvider time)
    {
        _time = time;
        _sweeper = time.CreateTimer(_ => Sweep(), null, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
    }

    public ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Live(key, now);
            var mismatch = entry is { Fingerprint.Length: > 0 } && fingerprint.Length > 0 && entry.Fingerprint != fingerprint;
            switch (entry?.State)
            {
                case State.Completed:
                    return new(mismatch
                        ? new ClaimResult(ClaimOutcome.Conflict, entry.Epoch, StoredFingerprint: entry.Fingerprint)
                        : new ClaimResult(ClaimOutcome.Duplicate, entry.Epoch, Result: entry.Result));
                case State.InProgress when entry.Owner == owner:
                    // A retry of a takeover still answers "taken over", so the takeover check is not skipped.
                    Extend(entry, now, lease);
                    return new(new ClaimResult(entry.TakenOver ? ClaimOutcome.TakenOver : ClaimOutcome.Claimed, entry.Epoch, PreviousEpoch: entry.PreviousEpoch));
                // An expired claim is taken over whatever its fingerprint: its payload never completed (issue 9).
                case State.InProgress when entry.LeaseDeadline > now && mismatch:
                    return new(new ClaimResult(ClaimOutcome.Conflict, entry.Epoch, StoredFingerprint: entry.Fingerprint));
                case State.InProgress when entry.LeaseDeadline > now:
                    return new(new ClaimResult(ClaimOutcome.Busy, entry.Epoch, entry.LeaseDeadline - now));
            }

            var outcome = entry?.State == State.InProgress ? ClaimOutcome.TakenOver : ClaimOutcome.Claimed;

            // Every epoch this store issued is at most _lastEpoch, the stored one included.
            _lastEpoch = Math.Max(_lastEpoch + 1, (now - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond);
            var claimed = new Entry
            {
                State = State.InProgress,
                Owner = owner,
                Epoch = _lastEpoch,
                LeaseDeadline = now + lease,
                Fingerprint = fingerprint,
                ExpiresAt = now + Max(retention, 2 * lease),
                // A takeover, or a claim after a release or a forget (that owner's work may have run): each names the
                // previous epoch, so the takeover check is asked.
                PreviousEpoch = entry?.State is State.InProgress or State.Released or State.Forgotten ? entry.Epoch : 0,
                TakenOver = outcome == ClaimOutcome.TakenOver,
            };
            _entries[key] = claimed;
            return new(new ClaimResult(outcome, claimed.Epoch, PreviousEpoch: claimed.PreviousEpoch));
        }
    }

    public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Owned(key, owner, epoch, now);
            if (entry?.State != State.InProgress)
                return new(false);
            Extend(entry, now, lease);
            return new(true);
        }
    }

    public ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Owned(key, owner, epoch, now);
            if (entry?.State == State.Completed)
                return new(true);
            if (entry?.State != State.InProgress)
                return new(false);
            entry.State = State.Completed;
            entry.Result = result.ToArray();
            entry.ExpiresAt = now + retention;
        }

        _watches.Fire(key);
        return new(true);
    }

    public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Owned(key, owner, epoch, now);
            if (entry?.State == State.Released)
                return new(true);
            if (entry?.State != State.InProgress)
                return new(false);
            entry.State = State.Released;
            entry.Fingerprint = string.Empty;
        }

        _watches.Fire(key);
        return new(true);
    }

    public KeyWatch Watch(string key) => _watches.Register(key);

    public ValueTask<DedupRecord> InspectAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Live(key, now);
            if (entry is null)
                return new(new DedupRecord(key, DedupRecordState.Absent) { ReadAt = now });

            var state = StateOf(entry.State);
            return new(new DedupRecord(key, state)
            {
                Owner = entry.Owner.Length > 0 ? entry.Owner : null,
                Epoch = entry.Epoch,
                LeaseRemaining = state == DedupRecordState.InProgress ? entry.LeaseDeadline - now : null,
                Fingerprint = entry.Fingerprint.Length > 0 ? entry.Fingerprint : null,
                Result = entry.Result,
                PreviousEpoch = state == DedupRecordState.InProgress ? entry.PreviousEpoch : 0,
                TimeToLive = entry.ExpiresAt - now,
                ReadAt = now,
            });
        }
    }

    public ValueTask<DedupForgetResult> ForgetAsync(string key, bool force, TimeSpan retention, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        DedupForgetResult result;
        lock (_lock)
        {
            var entry = Live(key, now);
            switch (entry?.State)
            {
                case null:
                    return new(new DedupForgetResult(DedupForgetOutcome.NotFound, 0, DedupRecordState.Absent));
                case State.Forgotten:
                    return new(new DedupForgetResult(DedupForgetOutcome.AlreadyForgotten, entry.Epoch, DedupRecordState.Forgotten));
                case State.InProgress when !force && entry.LeaseDeadline > now:
                    return new(new DedupForgetResult(DedupForgetOutcome.LeaseHeld, entry.Epoch, DedupRecordState.InProgress, entry.LeaseDeadline - now));
            }

            // A tombstone that keeps the epoch (RedisScripts.Forget says why): the owner, if any, is fenced off.
            result = new DedupForgetResult(DedupForgetOutcome.Forgotten, entry.Epoch, StateOf(entry.State));
            _entries[key] = new Entry { State = State.Forgotten, Epoch = entry.Epoch, ExpiresAt = now + retention };
        }

        _watches.Fire(key);
        return new(result);
    }

    public Task<RecordSample> SampleAsync(int keysPerServer, TimeSpan window, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        var tally = new StateTally(now, window);
        long scanned = 0;
        lock (_lock)
        {
            foreach (var entry in _entries.Values)
            {
                if (scanned == keysPerServer)
                    break;
                scanned++;
                if (entry.ExpiresAt > now)
                    tally.Add(StateOf(entry.State), entry.State == State.InProgress && entry.LeaseDeadline <= now, entry.Epoch);
            }

            var finished = scanned == _entries.Count;
            var sample = new DedupServerStats("in-memory", _entries.Count, scanned, finished, tally.Counts, MemoryBytes: null, tally.ClaimedInWindow);
            return Task.FromResult(new RecordSample(false, [sample]));
        }
    }

    /// <summary>The number of records held, expired ones included until the next sweep or lookup (a test hook).</summary>
    internal int Count
    {
        get
        {
            lock (_lock)
                return _entries.Count;
        }
    }

    /// <summary>Removes a key (a test hook standing for an operator's DEL or an eviction).</summary>
    internal void Remove(string key)
    {
        lock (_lock)
            _entries.Remove(key);
    }

    public void Dispose() => _sweeper.Dispose();

    Entry? Live(string key, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(key, out var entry))
            return null;
        if (entry.ExpiresAt > now)
            return entry;
        _entries.Remove(key);
        return null;
    }

    // The lease moves; the record lives at least one lease past it (as on Redis), however long the work runs.
    static void Extend(Entry entry, DateTimeOffset now, TimeSpan lease)
    {
        entry.LeaseDeadline = now + lease;
        if (entry.ExpiresAt < now + 2 * lease)
            entry.ExpiresAt = now + 2 * lease;
    }

    static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    static DedupRecordState StateOf(State state) => state switch
    {
        State.InProgress => DedupRecordState.InProgress,
        State.Completed => DedupRecordState.Completed,
        State.Released => DedupRecordState.Released,
        _ => DedupRecordState.Forgotten,
    };

    Entry? Owned(string key, string owner, long epoch, DateTimeOffset now)
    {
        var entry = Live(key, now);
        return entry is not null && entry.Owner == owner && entry.Epoch == epoch ? entry : null;
    }

    void Sweep()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            foreach (var (key, entry) in _entries)
            {
                if (entry.ExpiresAt <= now)
                    _entries.Remove(key);
            }
        }
    }

    enum State
    {
        InProgress,
        Completed,
        Released,
        Forgotten, // a tombstone keeping the epoch (an operator's forget)
    }

    sealed class Entry
    {
        public State State;
        public string Owner = string.Empty;
        public long Epoch;
        public DateTimeOffset LeaseDeadline;
        public string Fingerprint = string.Empty;
        public byte[] Result = [];
        public DateTimeOffset ExpiresAt;
        public long PreviousEpoch; // the owner this one took over from or followed after a release; 0 for a fresh claim
        public bool TakenOver;
    }
}
