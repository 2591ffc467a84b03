using System.Diagnostics;
using System.Globalization;
using Dedup.Diagnostics;
using Dedup.Operations;
using Dedup.Protocol;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>
/// The claim protocol on Redis: every transition is one Lua script (<see cref="RedisScripts"/>); the operator's inspect and
/// forget are scripts too, and its stats a <c>SCAN</c> of every master (<see cref="RedisRecordSampler"/>).
/// </summary>
/// <summary>How the store batches overlapping calls of one transition (<see cref="RedisScriptBatcher"/>).</summary>
/// <param name="MaxKeys">The most keys in one script call; 1 sends every call alone.</param>
/// <param name="MaxInFlight">Calls of one transition on their way at once before further calls wait to be batched.</param>
/// <param name="EvenAlone">Sends a call with nothing to batch it with through the many-key script too (the contract
/// suite runs every transition through it this way).</param>
internal sealed record RedisBatching(int MaxKeys, int MaxInFlight, bool EvenAlone = false)
{
    /// <summary>Batches of up to 64 (the store's tests and benchmarks; <see cref="DedupOptions.RedisBatchSize"/> for users).</summary>
    public static RedisBatching Default { get; } = new(64, 1);

    /// <summary>Every call alone: the default of <see cref="DedupOptions.RedisBatchSize"/>.</summary>
    public static RedisBatching Off { get; } = new(1, 1);
}

internal sealed class RedisDedupStore : IDedupStore, IDedupRecordStore, IAsyncDisposable
{
    const string RetriedAdvice = "The message is not acknowledged and will be retried; check that Redis is reachable and accepts writes (the reason above names what it refused for: maxmemory, persistence, replicas, a failover, credentials).";
    const string OperatorAdvice = "Check that Redis is reachable, then try again (inspect the record first: a forget whose reply was lost may have happened).";

    static readonly RedisScript Claim = new("claim", RedisScripts.Claim);
    static readonly RedisScript Renew = new("renew", RedisScripts.Renew);
    static readonly RedisScript Complete = new("complete", RedisScripts.Complete);
    static readonly RedisScript Release = new("release", RedisScripts.Release);
    static readonly RedisScript Inspect = new("inspect", RedisScripts.Inspect);
    static readonly RedisScript Forget = new("forget", RedisScripts.Forget);

    readonly IConnectionMultiplexer _connection;
    readonly IDatabase _database;
    readonly bool _ownsConnection;
    readonly string _keyPrefix;
    readonly RedisChannel _channel;
    readonly RedisValue _channelValue;
    readonly WatchRegistry _watches = new();
    readonly DedupMetrics _metrics;
    readonly ILogger _logger;
    readonly Lock _subscribeLock = new();
    readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    readonly Action<RedisChannel, RedisValue> _onNotification;
    readonly RedisScriptBatcher? _claims;
    readonly RedisScriptBatcher? _completions;
    Task? _subscription;

    public RedisDedupStore(IConnectionMultiplexer connection, bool ownsConnection, string keyPrefix, DedupMetrics metrics, ILogger logger,
        RedisBatching? batching = null)
    {
        _connection = connection;
        _database = connection.GetDatabase();
        _ownsConnection = ownsConnection;
        _keyPrefix = keyPrefix;
        var channel = keyPrefix + "__events";
        _channel = RedisChannel.Literal(channel);
        _channelValue = channel;
        _metrics = metrics;
        _logger = logger;
        _onRestored = (_, _) => _watches.FireAll();
        _onNotification = (_, message) =>
        {
            if (!message.IsNullOrEmpty)
                _watches.Fire(message!);
        };
        _connection.ConnectionRestored += _onRestored;

        // With batching on, the two transitions of every message go out in batches while calls overlap; renew, release
        // and the operator's calls are rare and always go alone. Off (the default), every call goes alone.
        if (batching is { MaxKeys: > 1 })
        {
            _claims = new RedisScriptBatcher(Claim, 4, connection, SendAsync, batching);
            _completions = new RedisScriptBatcher(Complete, 5, connection, SendAsync, batching);
        }
    }

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        // The subscription must exist before any claim can answer Busy, or a completion could go unseen.
        await EnsureSubscribedAsync().ConfigureAwait(false);
        var leaseMs = Milliseconds(lease);
        var reply = await EvaluateAsync(Claim, key,
            [owner, fingerprint, leaseMs, Math.Max(Milliseconds(retention), 2 * leaseMs)], cancellationToken, batcher: _claims).ConfigureAwait(false);

        // A plain claim (no previous epoch) answers its epoch alone: no reply table for the server to build.
        if (reply.Resp2Type == ResultType.Integer)
            return new ClaimResult(ClaimOutcome.Claimed, (long)reply);

        var parts = (RedisResult[])reply!;
        var outcome = (ClaimOutcome)(int)parts[0];
        var epoch = (long)parts[1];
        return outcome switch
        {
            ClaimOutcome.Busy => new ClaimResult(outcome, epoch, TimeSpan.FromMilliseconds((long)parts[2])),
            ClaimOutcome.Duplicate => new ClaimResult(outcome, epoch, Result: ((byte[]?)parts[2]) ?? []),
            ClaimOutcome.Conflict => new ClaimResult(outcome, epoch, StoredFingerprint: (string?)parts[2]),
            _ => new ClaimResult(outcome, epoch, PreviousEpoch: parts.Length > 2 ? (long)parts[2] : 0),
        };
    }

    public async ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken) =>
        (long)(await EvaluateAsync(Renew, key, [owner, epoch, Milliseconds(lease)], cancellationToken).ConfigureAwait(false)) == 1;

    public async ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken) =>
        (long)(await EvaluateAsync(Complete, key,
            [owner, epoch, result, Milliseconds(retention), _channelValue], cancellationToken, batcher: _completions).ConfigureAwait(false)) == 1;

    public async ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
        (long)(await EvaluateAsync(Release, key, [owner, epoch, _channelValue], cancellationToken).ConfigureAwait(false)) == 1;

    public KeyWatch Watch(string key) => _watches.Register(key);

    public async ValueTask<DedupRecord> InspectAsync(string key, CancellationToken cancellationToken)
    {
        var parts = (RedisResult[])(await EvaluateAsync(Inspect, key, [], cancellationToken, OperatorAdvice).ConfigureAwait(false))!;
        var now = (long)parts[9];
        var state = RedisScripts.StateOf((string?)parts[0]);
        var record = new DedupRecord(key, state) { ReadAt = DateTimeOffset.FromUnixTimeMilliseconds(now) };
        if (state == DedupRecordState.Absent)
            return record;

        var ttl = (long)parts[8];
        return record with
        {
            Owner = Text(parts[1]),
            Epoch = Number(parts[2]),
            LeaseRemaining = state == DedupRecordState.InProgress ? TimeSpan.FromMilliseconds(Number(parts[3]) - now) : null,
            Fingerprint = Text(parts[4]),
            Result = (byte[]?)parts[5] ?? [],
            PreviousEpoch = Math.Abs(Number(parts[6])), // negative after a release or a forget
            HasWaiters = Text(parts[7]) is not null,
            TimeToLive = ttl >= 0 ? TimeSpan.FromMilliseconds(ttl) : null,
        };
    }

    public async ValueTask<DedupForgetResult> ForgetAsync(string key, bool force, TimeSpan retention, CancellationToken cancellationToken)
    {
        var parts = (RedisResult[])(await EvaluateAsync(Forget, key,
            [force ? 1 : 0, Milliseconds(retention), _channelValue], cancellationToken, OperatorAdvice).ConfigureAwait(false))!;
        var epoch = (long)parts[1];
        return (long)parts[0] switch
        {
            0 => new DedupForgetResult(DedupForgetOutcome.NotFound, 0, DedupRecordState.Absent),
            1 => new DedupForgetResult(DedupForgetOutcome.AlreadyForgotten, epoch, DedupRecordState.Forgotten),
            2 => new DedupForgetResult(DedupForgetOutcome.LeaseHeld, epoch, DedupRecordState.InProgress, TimeSpan.FromMilliseconds((long)parts[2])),
            _ => new DedupForgetResult(DedupForgetOutcome.Forgotten, epoch, RedisScripts.StateOf((string?)parts[2])),
        };
    }

    public Task<RecordSample> SampleAsync(int keysPerServer, TimeSpan window, CancellationToken cancellationToken) =>
        new RedisRecordSampler(_connection, _database.Database, _keyPrefix).SampleAsync(keysPerServer, window, cancellationToken);

    /// <summary>
    /// Lets go of the connection: disposes it when the store owns it; otherwise detaches this store's handlers, so a
    /// connection the application keeps no longer calls into a disposed store (issue 9).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _connection.ConnectionRestored -= _onRestored;
        if (_ownsConnection)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        Task? subscription;
        lock (_subscribeLock)
            subscription = _subscription;
        if (subscription is null)
            return;
        try
        {
            // Removes this store's handler only; the channel stays subscribed while another store on it listens.
            await _connection.GetSubscriber().UnsubscribeAsync(_channel, _onNotification).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            // Best effort: a handler left behind only wakes waiters to re-check their key.
        }
    }

    async Task<RedisResult> EvaluateAsync(RedisScript script, string key, RedisValue[] values, CancellationToken cancellationToken,
        string advice = RetriedAdvice, RedisScriptBatcher? batcher = null)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var call = batcher is null ? SendAsync(script, [key], values) : batcher.EvaluateAsync(key, values);

            // WaitAsync returns the call's own task when the token cannot be cancelled.
            return await call.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            _metrics.StoreError(script.Operation);
            throw new DedupStoreUnavailableException(
                $"Redis did not complete the dedup {script.Operation} of '{key}': {exception.Message}. {advice}",
                exception);
        }
        finally
        {
            _metrics.StoreDuration(script.Operation, Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>Sends a script by its SHA-1; when the server no longer has it (NOSCRIPT), by its text.</summary>
    Task<RedisResult> SendAsync(RedisScript script, RedisKey[] keys, RedisValue[] values)
    {
        var call = _database.ScriptEvaluateAsync(script.Hash, keys, values);
        return call.IsCompletedSuccessfully ? call : ReloadingAsync(call);

        async Task<RedisResult> ReloadingAsync(Task<RedisResult> pending)
        {
            try
            {
                return await pending.ConfigureAwait(false);
            }
            catch (RedisServerException exception) when (exception.Kind == RedisErrorKind.NoScript)
            {
                // SCRIPT FLUSH, a restart or a failover emptied the server's script cache, and nothing ran: the text
                // overload loads the script again (SCRIPT LOAD, then EVALSHA; EVAL where SCRIPT is renamed away).
                return await _database.ScriptEvaluateAsync(script.Text, keys, values).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// True for every failure of the store except a bug in our own scripts: the call then fails closed
    /// (<see cref="DedupStoreUnavailableException"/>) and the message is retried, never dead-lettered for a condition
    /// of the server (OOM, LOADING, BUSY, READONLY, MASTERDOWN, TRYAGAIN, MISCONF, NOREPLICAS, CLUSTERDOWN, MOVED,
    /// NOAUTH, WRONGPASS, NOPERM, WRONGTYPE from a foreign value under our key, or any code Redis adds later).
    /// </summary>
    internal static bool IsStoreFailure(Exception exception) => exception switch
    {
        RedisServerException server => !IsScriptBug(server.Message),
        RedisException or RedisTimeoutException or ObjectDisposedException => true,
        _ => false,
    };

    // Redis 7 reports a script's own Lua error as "ERR user_script:<line>: ..." or "ERR Error compiling script ...";
    // an error of a command the script calls keeps that command's code (OOM, MISCONF, ...) with the script named
    // after it, and only our own arguments can make such a command answer ERR. Retrying cannot fix either.
    static bool IsScriptBug(string message) =>
        message.StartsWith("ERR", StringComparison.Ordinal) && message.Contains("script", StringComparison.OrdinalIgnoreCase);

    Task EnsureSubscribedAsync()
    {
        var task = _subscription;
        if (task is { IsCompletedSuccessfully: true })
            return Task.CompletedTask;

        lock (_subscribeLock)
        {
            // A failed subscription is tried again on the next claim.
            if (_subscription is null || _subscription.IsFaulted || _subscription.IsCanceled)
                _subscription = SubscribeAsync();
            task = _subscription;
        }

        return AwaitSubscription(task);

        async Task AwaitSubscription(Task pending)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // Waiters still wake when the lease they were told about runs out; log and go on.
                DedupLog.SubscriptionFailed(_logger, _channel.ToString(), exception);
            }
        }
    }

    Task SubscribeAsync() => _connection.GetSubscriber().SubscribeAsync(_channel, _onNotification);

    static long Milliseconds(TimeSpan value) => (long)Math.Ceiling(value.TotalMilliseconds);

    static string? Text(RedisResult value) => (string?)value is { Length: > 0 } text ? text : null;

    /// <summary>A number a script stored in a field (Redis writes a Lua number as an integer or in exponent form); 0 when empty.</summary>
    internal static long Number(RedisResult value) => Number((string?)value);

    internal static long Number(string? text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? (long)number : 0;
}
