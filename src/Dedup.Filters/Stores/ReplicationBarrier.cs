using System.Diagnostics;
using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Dedup.Stores;

/// <summary>
/// Waits until <see cref="DedupDurability.Replicas"/> replicas have a record as it is now (<see cref="DedupOptions.Durability"/>),
/// and applies <see cref="DedupDurability.OnTimeout"/> when they do not confirm it in time.
/// </summary>
/// <remarks>
/// WAIT confirms the writes made on the connection that sends it (<see href="https://redis.io/docs/latest/commands/wait/">WAIT</see>).
/// The write it confirms here is <see cref="RedisScripts.Touch"/>, sent just before it on the same borrowed connection:
/// it rewrites the record's state with its own value, and Redis replicates one stream in order, so a replica that has
/// the touch has every earlier write to the key too, whichever connection or process made it: the completion, the
/// claim, or the completion a duplicate is about to be acknowledged on. That keeps the claim protocol's scripts and the
/// application's multiplexer as they are, and costs one round trip (touch and WAIT are pipelined) besides the wait.
/// WAIT is not strong consistency (the Redis documentation says so): a failover may still promote a replica that missed
/// the write, e.g. one that was not among the replicas that confirmed.
/// </remarks>
internal sealed class ReplicationBarrier : IAsyncDisposable
{
    readonly DedupDurability _durability;
    readonly WaitConnections _connections;
    readonly DedupMetrics _metrics;
    readonly ILogger _logger;
    readonly long _timeoutMs;

    public ReplicationBarrier(string configuration, DedupDurability durability, DedupMetrics metrics, ILogger logger)
    {
        _durability = durability;
        _connections = new WaitConnections(configuration, durability.Connections, durability.Timeout);
        _metrics = metrics;
        _logger = logger;
        _timeoutMs = Math.Max(1, (long)Math.Ceiling(durability.Timeout.TotalMilliseconds));
    }

    /// <summary>Whether claims are confirmed too (<see cref="DedupDurability.AfterClaim"/>).</summary>
    public bool AfterClaim => _durability.AfterClaim;

    /// <summary>
    /// Returns once the replicas confirmed <paramref name="key"/>'s record, or did not and the policy accepts it
    /// (warned, counted).
    /// </summary>
    /// <param name="key">The record.</param>
    /// <param name="operation"><c>claim</c>, <c>complete</c> or <c>duplicate</c>, for the log and the exception.</param>
    /// <param name="cancellationToken">Cancels waiting for a free connection (a WAIT once sent runs to its timeout).</param>
    /// <exception cref="DedupNotReplicatedException">Not confirmed in time and <see cref="ReplicationTimeoutPolicy.Fail"/>.</exception>
    public async Task ConfirmAsync(string key, string operation, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        int acknowledged;
        Exception? failure = null;
        try
        {
            using var lease = await _connections.BorrowAsync(cancellationToken).ConfigureAwait(false);
            var server = lease.Connection.GetServer((RedisKey)key); // the node that owns the key, also in a cluster
            var touch = server.ExecuteAsync("EVAL", RedisScripts.Touch, 1, (RedisKey)key);
            var wait = server.ExecuteAsync("WAIT", _durability.Replicas, _timeoutMs);
            await Task.WhenAll(touch, wait).ConfigureAwait(false);
            if ((long)await touch.ConfigureAwait(false) == 0)
                return; // the record is gone (expired or deleted): there is nothing left to confirm
            acknowledged = (int)(long)await wait.ConfigureAwait(false);
        }
        catch (Exception exception) when (RedisDedupStore.IsStoreFailure(exception))
        {
            // Unknown, so not confirmed: the policy decides, as for a wait that ran out.
            _metrics.StoreError("wait");
            (acknowledged, failure) = (-1, exception);
        }
        finally
        {
            _metrics.StoreDuration("wait", Stopwatch.GetElapsedTime(started));
        }

        if (acknowledged >= _durability.Replicas)
            return;

        _metrics.Outcome(DedupOutcomes.NotReplicated);
        if (_durability.OnTimeout == ReplicationTimeoutPolicy.Accept)
        {
            DedupLog.NotReplicatedAccepted(_logger, key, operation, acknowledged, _durability.Replicas, _durability.Timeout, failure);
            return;
        }

        DedupLog.NotReplicatedFailed(_logger, key, operation, acknowledged, _durability.Replicas, _durability.Timeout, failure);
        throw new DedupNotReplicatedException(key, operation, acknowledged, _durability, failure);
    }

    public ValueTask DisposeAsync() => _connections.DisposeAsync();
}
