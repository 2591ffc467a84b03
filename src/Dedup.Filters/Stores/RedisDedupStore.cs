using System.Diagnostics;
using Dedup.Diagnostics;
using Dedup.Protocol;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>The claim protocol on Redis: every transition is one Lua script (<see cref="RedisScripts"/>).</summary>
internal sealed class RedisDedupStore : IDedupStore, IAsyncDisposable
{
    readonly IConnectionMultiplexer _connection;
    readonly bool _ownsConnection;
    readonly RedisChannel _channel;
    readonly RedisValue _channelValue;
    readonly WatchRegistry _watches = new();
    readonly DedupMetrics _metrics;
    readonly ILogger _logger;
    readonly Lock _subscribeLock = new();
    readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    readonly Action<RedisChannel, RedisValue> _onNotification;
    Task? _subscription;

    public RedisDedupStore(IConnectionMultiplexer connection, bool ownsConnection, string keyPrefix, DedupMetrics metrics, ILogger logger)
    {
        _connection = connection;
        _ownsConnection = ownsConnection;
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
    }

    IDatabase Database => _connection.GetDatabase();

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        // The subscription must exist before any claim can answer Busy, or a completion could go unseen.
        await EnsureSubscribedAsync().ConfigureAwait(false);
        var reply = await EvaluateAsync("claim", RedisScripts.Claim, key,
            [owner, fingerprint, Milliseconds(lease), Milliseconds(retention)], cancellationToken).ConfigureAwait(false);

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
        (long)(await EvaluateAsync("renew", RedisScripts.Renew, key, [owner, epoch, Milliseconds(lease)], cancellationToken).ConfigureAwait(false)) == 1;

    public async ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken) =>
        (long)(await EvaluateAsync("complete", RedisScripts.Complete, key,
            [owner, epoch, result, Milliseconds(retention), _channelValue], cancellationToken).ConfigureAwait(false)) == 1;

    public async ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
        (long)(await EvaluateAsync("release", RedisScripts.Release, key, [owner, epoch, _channelValue], cancellationToken).ConfigureAwait(false)) == 1;

    public KeyWatch Watch(string key) => _watches.Register(key);

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

    async Task<RedisResult> EvaluateAsync(string operation, string script, string key, RedisValue[] values, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            // The string overload sends EVALSHA and falls back to EVAL on NOSCRIPT (survives SCRIPT FLUSH / restarts).
            return await Database.ScriptEvaluateAsync(script, [key], values).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            _metrics.StoreError(operation);
            throw new DedupStoreUnavailableException(
                $"Redis did not complete the dedup {operation} of '{key}': {exception.Message}. The message is not acknowledged and will be retried; check that Redis is reachable and accepts writes (the reason above names what it refused for: maxmemory, persistence, replicas, a failover, credentials).",
                exception);
        }
        finally
        {
            _metrics.StoreDuration(operation, Stopwatch.GetElapsedTime(started));
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
}
