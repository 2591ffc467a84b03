using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dedup.Protocol;

/// <summary>
/// A claim this process owns while its work runs: renews the lease every third of it, cancels
/// <see cref="DedupClaim.LeaseLost"/> when the store answers "lost" or when no renewal succeeded before the
/// lease ran out, and completes or releases the key with the owner token and epoch (fencing).
/// </summary>
internal sealed class ActiveClaim : IAsyncDisposable
{
    readonly IDedupStore _store;
    readonly DedupOptions _options;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly string _owner;
    readonly CancellationTokenSource _lost = new();
    readonly CancellationTokenSource _stop = new();
    readonly Task _renewals;
    long _leaseDeadline; // local, conservative: the start of the last successful claim/renew call + lease

    public ActiveClaim(IDedupStore store, DedupOptions options, TimeProvider time, ILogger logger, string key, string owner, long epoch, bool takenOver, long claimStarted)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _owner = owner;
        _leaseDeadline = claimStarted + ToTicks(options.Lease);
        Claim = new DedupClaim(key, epoch, takenOver, _lost.Token);
        _renewals = RenewLoopAsync();
    }

    public DedupClaim Claim { get; }

    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>
    /// Records the result. Transient store failures are retried while the lease still holds (nobody can take the key
    /// over before that). Returns false when the claim was lost (fenced off): nothing was written.
    /// </summary>
    public async Task<bool> CompleteAsync(ReadOnlyMemory<byte> result, CancellationToken cancellationToken)
    {
        // Even after a local loss (no renewal succeeded in time) the store decides: if nobody took the key over,
        // this owner is still the only one that ran the work, and completing is right.
        await StopRenewingAsync().ConfigureAwait(false);
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var started = _time.GetTimestamp();
            try
            {
                var ok = await _store.CompleteAsync(Claim.Key, _owner, Claim.Epoch, result, _options.Retention, cancellationToken).ConfigureAwait(false);
                if (!ok && !_lost.IsCancellationRequested)
                    await _lost.CancelAsync().ConfigureAwait(false);
                return ok;
            }
            catch (DedupStoreUnavailableException exception)
            {
                if (started + ToTicks(delay) >= Volatile.Read(ref _leaseDeadline))
                {
                    DedupLog.CompleteFailed(_logger, Claim.Key, exception);
                    throw;
                }

                DedupLog.CompleteRetry(_logger, Claim.Key, exception);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
            }
        }
    }

    /// <summary>
    /// Gives the key back after a failure so the message can run again; fenced (only this owner and epoch) and best
    /// effort: when it fails, the lease expires instead.
    /// </summary>
    public async Task ReleaseAsync()
    {
        await StopRenewingAsync().ConfigureAwait(false);
        try
        {
            // Not the message's token: a release must happen even when the consume was cancelled.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _store.ReleaseAsync(Claim.Key, _owner, Claim.Epoch, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DedupStoreUnavailableException or OperationCanceledException)
        {
            DedupLog.ReleaseFailed(_logger, Claim.Key, Claim.Epoch, exception);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopRenewingAsync().ConfigureAwait(false);
        _stop.Dispose();
        _lost.Dispose();
    }

    async Task StopRenewingAsync()
    {
        if (!_stop.IsCancellationRequested)
            await _stop.CancelAsync().ConfigureAwait(false);
        await _renewals.ConfigureAwait(false);
    }

    async Task RenewLoopAsync()
    {
        var interval = _options.Lease / 3;
        while (true)
        {
            try
            {
                await Task.Delay(interval, _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var started = _time.GetTimestamp();
            try
            {
                if (await _store.RenewAsync(Claim.Key, _owner, Claim.Epoch, _options.Lease, _stop.Token).ConfigureAwait(false))
                {
                    Volatile.Write(ref _leaseDeadline, started + ToTicks(_options.Lease));
                }
                else
                {
                    MarkLost();
                    return;
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (DedupStoreUnavailableException exception)
            {
                // Unknown, not lost, while the lease may still hold; once no renewal has succeeded within a lease,
                // another owner may hold the key: stop the work. (A late but successful renewal is fine: the store,
                // not this clock, decides who owns the key.)
                if (_time.GetTimestamp() >= Volatile.Read(ref _leaseDeadline))
                {
                    MarkLost();
                    return;
                }

                DedupLog.RenewFailed(_logger, Claim.Key, exception);
            }
        }
    }

    void MarkLost()
    {
        DedupLog.LeaseLost(_logger, Claim.Key, Claim.Epoch);
        _lost.Cancel();
    }

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
