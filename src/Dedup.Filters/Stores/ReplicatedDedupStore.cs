using Dedup.Diagnostics;
using Dedup.Operations;
using Dedup.Protocol;
using Microsoft.Extensions.Logging;

namespace Dedup.Stores;

/// <summary>
/// The Redis store with <see cref="DedupOptions.Durability"/>: every write a message's acknowledgement relies on is
/// confirmed by the replicas (<see cref="ReplicationBarrier"/>) before the store answers. A completion, so the
/// message is acknowledged only once its record survives a failover; a duplicate, so no copy is acknowledged on a
/// record the replicas do not have yet (a completion that failed to replicate stays recorded on the primary, and its
/// redelivery would otherwise be acknowledged on it unconfirmed); a claim with <see cref="DedupDurability.AfterClaim"/>,
/// so the consumer runs only on a claim the promoted replica would still know.
/// </summary>
/// <remarks>Renewals and releases are not confirmed: a replica that missed one holds an older deadline or a live claim
/// that expires, and either ends in a fenced takeover, never in a lost record. An operator's forget is confirmed: a
/// failover must not bring the forgotten record back after the operator was told it is gone.</remarks>
internal sealed class ReplicatedDedupStore : IDedupStore, IDedupRecordStore, IAsyncDisposable
{
    readonly RedisDedupStore _store;
    readonly ReplicationBarrier _barrier;
    readonly ILogger _logger;

    public ReplicatedDedupStore(RedisDedupStore store, ReplicationBarrier barrier, ILogger logger)
    {
        _store = store;
        _barrier = barrier;
        _logger = logger;
    }

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        var result = await _store.ClaimAsync(key, owner, fingerprint, lease, retention, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == ClaimOutcome.Duplicate)
        {
            await _barrier.ConfirmAsync(key, "duplicate", cancellationToken).ConfigureAwait(false);
        }
        else if (result.IsOwner && _barrier.AfterClaim)
        {
            try
            {
                await _barrier.ConfirmAsync(key, "claim", cancellationToken).ConfigureAwait(false);
            }
            catch (DedupNotReplicatedException)
            {
                // The work must not run on a claim a failover could forget: give it back (fenced) first, so the
                // redelivery claims the key afresh instead of waiting for this lease. A claim that follows a previous
                // owner's work (a takeover, a claim after a release) is not released but cut, so the redelivery
                // still names that owner's epoch to the takeover check.
                await GiveBackQuietlyAsync(key, owner, result).ConfigureAwait(false);
                throw;
            }
        }

        return result;
    }

    public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken) =>
        _store.RenewAsync(key, owner, epoch, lease, cancellationToken);

    public async ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken)
    {
        if (!await _store.CompleteAsync(key, owner, epoch, result, retention, cancellationToken).ConfigureAwait(false))
            return false;

        // Not released when unconfirmed: the work happened, and the record on the primary answers its redelivery.
        await _barrier.ConfirmAsync(key, "complete", cancellationToken).ConfigureAwait(false);
        return true;
    }

    public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
        _store.ReleaseAsync(key, owner, epoch, cancellationToken);

    public KeyWatch Watch(string key) => _store.Watch(key);

    public ValueTask<DedupRecord> InspectAsync(string key, CancellationToken cancellationToken) => _store.InspectAsync(key, cancellationToken);

    public async ValueTask<DedupForgetResult> ForgetAsync(string key, bool force, TimeSpan retention, CancellationToken cancellationToken)
    {
        var result = await _store.ForgetAsync(key, force, retention, cancellationToken).ConfigureAwait(false);
        if (result.Outcome is DedupForgetOutcome.Forgotten or DedupForgetOutcome.AlreadyForgotten)
            await _barrier.ConfirmAsync(key, "forget", cancellationToken).ConfigureAwait(false);
        return result;
    }

    public Task<RecordSample> SampleAsync(int keysPerServer, TimeSpan window, CancellationToken cancellationToken) =>
        _store.SampleAsync(keysPerServer, window, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _barrier.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
    }

    async Task GiveBackQuietlyAsync(string key, string owner, ClaimResult claim)
    {
        var epoch = claim.Epoch;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            if (claim.MayFollowWork)
                await _store.RenewAsync(key, owner, epoch, TimeSpan.FromMilliseconds(1), timeout.Token).ConfigureAwait(false);
            else
                await _store.ReleaseAsync(key, owner, epoch, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DedupStoreUnavailableException or OperationCanceledException)
        {
            DedupLog.ReleaseFailed(_logger, key, epoch, exception);
        }
    }
}
