using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dedup.Protocol;

/// <summary>
/// A claim this process owns while its work runs, with the <see cref="LeaseMonitor"/> that keeps its lease (started by
/// <see cref="Start"/>). <see cref="DedupClaim.LeaseLost"/> is the monitor's loss signal. A lost claim records nothing,
/// and it is never released either: its work may have happened, so its lease is cut and the next copy takes the key
/// over and asks the takeover check. Complete, release and the cut are fenced by the owner token and epoch.
/// </summary>
internal sealed class ActiveClaim : IAsyncDisposable
{
    readonly IDedupStore _store;
    readonly DedupOptions _options;
    readonly TimeProvider _time;
    readonly ILogger _logger;
    readonly string _owner;
    readonly LeaseMonitor _lease;
    int _settled; // 1 once completing or releasing began
    int _disposed;
    int _workStarted; // 1 once the work runs under this claim

    public ActiveClaim(IDedupStore store, DedupOptions options, TimeProvider time, ILogger logger, string key, string owner, long epoch, bool takenOver, long claimStarted)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _owner = owner;
        _lease = new LeaseMonitor(store, options, time, logger, key, owner, epoch, claimStarted);
        Claim = new DedupClaim(key, epoch, takenOver, _lease.Lost);
    }

    public DedupClaim Claim { get; }

    public bool IsLost => _lease.IsLost;

    /// <summary>The renewal loop (a test hook: it ends once the claim stops renewing; completed before it started).</summary>
    internal Task Renewals => _lease.Renewals;

    /// <summary>Starts keeping the lease (renewals and the deadline); the coordinator calls it once it hands the claim out.</summary>
    public ActiveClaim Start()
    {
        _lease.Start();
        return this;
    }

    /// <summary>
    /// Records the result. Transient store failures are retried while the lease still holds (nobody can take the key
    /// over before that). Returns false when the claim was lost: nothing was written.
    /// </summary>
    public async Task<bool> CompleteAsync(ReadOnlyMemory<byte> result, CancellationToken cancellationToken)
    {
        await SettleAsync().ConfigureAwait(false);
        if (IsLost)
        {
            // The work's token was cancelled by the loss, so what it did may be partial, and past the deadline another
            // owner may hold the key: never record it (issue 9). Nor release it: a fresh claim would run the work again
            // without asking the takeover check, and the work may have happened (issue 10). Cut the lease instead, so
            // the redelivery meets the new owner or takes the key over at once and asks the check.
            await CutLeaseAsync().ConfigureAwait(false);
            return false;
        }

        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var started = _time.GetTimestamp();
            try
            {
                var ok = await _store.CompleteAsync(Claim.Key, _owner, Claim.Epoch, result, _options.Retention, cancellationToken).ConfigureAwait(false);
                if (!ok)
                    await _lease.SignalLostAsync().ConfigureAwait(false);
                return ok;
            }
            catch (DedupStoreUnavailableException exception)
            {
                if (started + ToTicks(delay) >= _lease.LeaseDeadline)
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
    /// effort: when it fails, the lease expires instead. A lost claim's lease is cut instead (see <see cref="CompleteAsync"/>).
    /// </summary>
    public async Task ReleaseAsync()
    {
        await SettleAsync().ConfigureAwait(false);
        await GiveBackAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Lets go of the claim without releasing it, when nobody knows whether the previous owner's work happened (the
    /// takeover check failed): renewals stop and the lease is cut to a millisecond, so the next claim is a takeover
    /// again (and asks the check again) instead of a fresh claim. Best effort: when the store fails, the lease runs
    /// out by itself.
    /// </summary>
    public async Task AbandonAsync()
    {
        await SettleAsync().ConfigureAwait(false);
        await CutLeaseAsync().ConfigureAwait(false);
    }

    /// <summary>Stops renewing; a claim that was neither completed nor released (its work threw after a loss, say) is released.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
            return;
        var unsettled = Volatile.Read(ref _settled) == 0;
        await SettleAsync().ConfigureAwait(false);
        if (unsettled)
            await GiveBackAsync().ConfigureAwait(false);

        await _lease.DisposeAsync().ConfigureAwait(false);
    }

    Task SettleAsync()
    {
        Volatile.Write(ref _settled, 1);
        return _lease.StopAsync();
    }

    /// <summary>
    /// The work starts under this claim (after the takeover check, if any, said it had not happened). Until then a
    /// takeover is never released: a fresh claim after it would run the work without asking the check, and the previous
    /// owner's work may have happened (issue 10).
    /// </summary>
    public void WorkStarting() => Volatile.Write(ref _workStarted, 1);

    Task GiveBackAsync() => IsLost || (Claim.TakenOver && Volatile.Read(ref _workStarted) == 0) ? CutLeaseAsync() : ReleaseKeyAsync();

    async Task CutLeaseAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _store.RenewAsync(Claim.Key, _owner, Claim.Epoch, TimeSpan.FromMilliseconds(1), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DedupStoreUnavailableException or OperationCanceledException)
        {
            DedupLog.ReleaseFailed(_logger, Claim.Key, Claim.Epoch, exception);
        }
    }

    async Task ReleaseKeyAsync()
    {
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

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
