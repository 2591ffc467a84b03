using System.Text.Json;
using Dedup.Pipeline;
using Dedup.Protocol;

namespace Dedup.Operations;

/// <summary>
/// The operator's view of the dedup records (README, "Operating"): the key the filter uses for a message, a record's
/// state, forgetting a record safely, and the records by state with the memory they take. Resolve it from the services
/// after <c>AddDedup</c> and <c>AddDedupRedisStore</c> or <c>AddDedupInMemoryStore</c>.
/// </summary>
public sealed class DedupRecords
{
    /// <summary>The keys each master is sampled with unless told otherwise.</summary>
    public const int DefaultSample = 10_000;

    readonly IDedupRecordStore _store;
    readonly DedupOptions _options;

    internal DedupRecords(IDedupStore store, DedupOptions options)
    {
        _store = store as IDedupRecordStore ?? throw new InvalidOperationException(
            $"The registered dedup store ({store.GetType().FullName}) has no operator commands. DedupRecords works on the stores of services.AddDedupRedisStore(...) and services.AddDedupInMemoryStore().");
        _options = options;
    }

    /// <summary>The prefix of every key (<see cref="DedupOptions.KeyPrefix"/>).</summary>
    public string KeyPrefix => _options.KeyPrefix;

    /// <summary>The key the dedup filter uses for a message keyed by its MessageId (<c>MT-OriginalMessageId</c> when present).</summary>
    /// <param name="messageId">The MessageId.</param>
    /// <param name="endpoint">The receive endpoint: its address (<c>rabbitmq://host/vhost/queue</c>), or its queue name on the default virtual host.</param>
    /// <param name="consumerType">The consumer, saga or batch consumer type's full name (<see cref="Type.FullName"/>).</param>
    public string KeyForMessage(Guid messageId, string endpoint, string consumerType) =>
        DedupKey.ForMessageId(_options.KeyPrefix, DedupKey.EndpointScope(endpoint, consumerType), messageId);

    /// <summary>The key the dedup filter uses for a message type keyed by a business key (<see cref="DedupOptions.KeyFor{T}"/>).</summary>
    /// <param name="customKey">The key the type's key selector returns.</param>
    /// <param name="endpoint">The receive endpoint: its address, or its queue name on the default virtual host.</param>
    /// <param name="consumerType">The consumer, saga or batch consumer type's full name.</param>
    /// <exception cref="DedupKeyException">The custom key is empty or too long.</exception>
    public string KeyForCustomKey(string customKey, string endpoint, string consumerType) =>
        DedupKey.ForCustomKey(_options.KeyPrefix, DedupKey.EndpointScope(endpoint, consumerType), customKey);

    /// <summary>
    /// Reads a record: its state, owner, epoch, lease left, fingerprint, result record and TTL, and the times derived
    /// from them (one read-only script on Redis).
    /// </summary>
    /// <exception cref="ArgumentException">The key does not start with <see cref="KeyPrefix"/>.</exception>
    /// <exception cref="DedupStoreUnavailableException">The store did not answer.</exception>
    public async Task<DedupRecord> InspectAsync(string key, CancellationToken cancellationToken = default)
    {
        CheckKey(key);
        var record = await _store.InspectAsync(key, cancellationToken).ConfigureAwait(false);
        return record with
        {
            ClaimedAt = ClaimTime(record.Epoch),
            CompletedAt = record.State == DedupRecordState.Completed && record.TimeToLive is { } ttl && ttl <= _options.Retention
                ? record.ReadAt - (_options.Retention - ttl)
                : null,
            ResultSummary = Summarize(record.Result),
        };
    }

    /// <summary>
    /// Forgets a record, so the next copy of its message is claimed and run again: the record becomes a tombstone that
    /// keeps its epoch for the retention window, so the next claim's epoch is higher than any before and names the
    /// forgotten one to the takeover check (as after a release). Refuses while an owner holds a live lease, unless
    /// <paramref name="force"/>: then that owner is fenced off (its renewal, completion and release answer lost).
    /// </summary>
    /// <exception cref="ArgumentException">The key does not start with <see cref="KeyPrefix"/>.</exception>
    /// <exception cref="DedupStoreUnavailableException">The store did not answer (the forget may have happened: inspect).</exception>
    public Task<DedupForgetResult> ForgetAsync(string key, bool force = false, CancellationToken cancellationToken = default)
    {
        CheckKey(key);
        return _store.ForgetAsync(key, force, _options.Retention, cancellationToken).AsTask();
    }

    /// <summary>
    /// Samples the records on every master (<c>SCAN</c>, never <c>KEYS</c>): counts by state, bytes per record
    /// (<c>MEMORY USAGE</c>), the rate of new records and the memory the retention window holds at that rate.
    /// </summary>
    /// <param name="sample">Keys scanned per master at most (all keys count, records or not). Default <see cref="DefaultSample"/>; at least 1.</param>
    /// <param name="rateWindow">The window the rate is measured over. Default 1 h; capped at the retention.</param>
    /// <param name="cancellationToken">Cancels the sampling.</param>
    public async Task<DedupStats> StatsAsync(int sample = DefaultSample, TimeSpan? rateWindow = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sample, 1);
        var window = rateWindow ?? TimeSpan.FromHours(1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero, nameof(rateWindow));
        if (window > _options.Retention)
            window = _options.Retention; // older records have expired: a longer window would dilute the rate

        var result = await _store.SampleAsync(sample, window, cancellationToken).ConfigureAwait(false);
        var servers = result.Servers;
        var sampled = servers.Sum(s => s.Sampled.Total);
        var memory = servers.Where(s => s.MemoryBytes is not null).ToArray();
        return new DedupStats
        {
            IsCluster = result.IsCluster,
            Servers = servers,
            Records = servers.Aggregate(DedupStateCounts.None, (total, s) => total.Plus(s.Sampled.Times(s.Scale))),
            BytesPerRecord = memory.Length > 0 && sampled > 0 ? (double)memory.Sum(s => s.MemoryBytes!.Value) / memory.Sum(s => s.Sampled.Total) : null,
            RateWindow = window,
            RecordsPerSecond = servers.Sum(s => s.ClaimedInWindow * s.Scale) / window.TotalSeconds,
            Retention = _options.Retention,
        };
    }

    void CheckKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (!key.StartsWith(_options.KeyPrefix + "{", StringComparison.Ordinal) || !key.EndsWith('}'))
        {
            throw new ArgumentException(
                $"'{key}' is not a dedup record key: keys are '{_options.KeyPrefix}{{<scope>:<id>}}' (Dedup:KeyPrefix is '{_options.KeyPrefix}'). Build the key with KeyForMessage or KeyForCustomKey, or copy it from a dedup log line.",
                nameof(key));
        }
    }

    // Epochs are the store's clock in microseconds at the claim; smaller ones (records from before issue 9) are counters.
    static DateTimeOffset? ClaimTime(long epoch) =>
        epoch >= 1_000_000_000_000_000 ? DateTimeOffset.UnixEpoch.AddTicks(epoch * TimeSpan.TicksPerMicrosecond) : null;

    static DedupResultSummary? Summarize(ReadOnlyMemory<byte> result)
    {
        if (result.IsEmpty)
            return null;
        try
        {
            var record = ResultRecord.Decode(result);
            if (record.Replies.Count == 0 && record.Fault is null && !record.TooLarge && !record.Recovered)
                return null; // nothing of a filter's record in it: the executor stores its results as plain JSON
            var fault = record.Fault is [var first, ..] ? $"{first.ExceptionType.Split(',')[0]}: {first.Message}" : null;
            return new DedupResultSummary([.. record.Replies.Select(r => r.Type.Split(',')[0])], fault, record.TooLarge, record.Recovered);
        }
        catch (JsonException)
        {
            return null; // not a filter's record (an executor's result that is no JSON object)
        }
    }
}
