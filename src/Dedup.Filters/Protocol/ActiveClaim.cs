using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Dedup.Protocol;

/// <summary>
/// A claim this process owns while its work runs. It renews the lease every third of it and keeps a local lease
/// deadline: the start of the last successful claim or renewal call plus the lease (the store's deadline is never
/// earlier). <see cref="DedupClaim.LeaseLost"/> is cancelled by a timer at that deadline, re-armed by each successful
/// renewal, when no renewal succeeded in time; by the store answering "lost"; and at
/// <see cref="DedupOptions.MaxRunTime"/>. A lost claim stops renewing and records nothing, and it is never released
/// either: its work may have happened, so its lease is cut and the next copy takes the key over and asks the takeover
/// check. Complete, release and the cut are fenced by the owner token and epoch.
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
    readonly ITimer _deadline;
    readonly long _runDeadline; // the claim's start + MaxRunTime
    readonly Task _renewals;
    long _leaseDeadline; // local, conservative: the start of the last successful claim/renew call + lease
    int _lostSignalled;
    int _settled; // 1 once completing or releasing began: the deadline no longer matters
    int _disposed;

    public ActiveClaim(IDedupStore store, DedupOptions options, TimeProvider time, ILogger logger, string key, string owner, long epoch, bool takenOver, long claimStarted)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _owner = owner;
        _leaseDeadline = claimStarted + ToTicks(options.Lease);
        _runDeadline = claimStarted + ToTicks(options.MaxRunTime);
        Claim = new DedupClaim(key, epoch, takenOver, _lost.Token);
        _deadline = time.CreateTimer(static state => ((ActiveClaim)state!).OnDeadline(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        ArmDeadline();
        _renewals = RenewLoopAsync(claimStarted);
    }

    public DedupClaim Claim { get; }

    public bool IsLost => _lost.IsCancellationRequested;

    /// <summary>The renewal loop (a test hook: it ends once the claim stops renewing).</summary>
    internal Task Renewals => _renewals;

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

        // Waits for a deadline callback in flight, so none touches the disposed sources.
        await _deadline.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _lost.Dispose();
    }

    async Task SettleAsync()
    {
        Volatile.Write(ref _settled, 1);
        _deadline.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        if (!_stop.IsCancellationRequested)
            await _stop.CancelAsync().ConfigureAwait(false);
        await _renewals.ConfigureAwait(false);
    }

    Task GiveBackAsync() => IsLost ? CutLeaseAsync() : ReleaseKeyAsync();

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

    async Task RenewLoopAsync(long claimStarted)
    {
        var interval = ToTicks(_options.Lease / 3);
        var next = claimStarted + interval;
        while (true)
        {
            try
            {
                // Due a third of a lease after the last renewal started, however late this loop got here.
                var now = _time.GetTimestamp();
                if (next > now)
                    await Task.Delay(_time.GetElapsedTime(now, next), _time, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var started = _time.GetTimestamp();
            if (_stop.IsCancellationRequested || started >= _runDeadline)
                return; // past MaxRunTime nothing renews: the deadline timer signals the loss

            next = started + interval;
            try
            {
                if (!await _store.RenewAsync(Claim.Key, _owner, Claim.Epoch, _options.Lease, _stop.Token).ConfigureAwait(false))
                {
                    MarkLost(); // the store says so: another owner holds the key, or it is gone
                    return;
                }

                Volatile.Write(ref _leaseDeadline, started + ToTicks(_options.Lease));
                ArmDeadline();
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (DedupStoreUnavailableException exception)
            {
                // Unknown, not lost: the store may or may not have renewed. Renewals go on; the deadline timer
                // signals the loss if none succeeds in time.
                DedupLog.RenewFailed(_logger, Claim.Key, exception);
            }
            catch (Exception exception)
            {
                // Unknown as well: this loop must never end silently, or nothing would renew and yet the work would
                // go on as if it held the key (issue 9).
                DedupLog.RenewThrew(_logger, Claim.Key, exception);
            }
        }
    }

    // The timer fires at the earlier of the lease deadline and the end of MaxRunTime.
    void ArmDeadline()
    {
        if (Volatile.Read(ref _settled) == 1 || _lost.IsCancellationRequested)
            return;
        var now = _time.GetTimestamp();
        var due = Math.Min(Volatile.Read(ref _leaseDeadline), _runDeadline);
        _deadline.Change(due > now ? _time.GetElapsedTime(now, due) : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    void OnDeadline()
    {
        if (Volatile.Read(ref _settled) == 1)
            return;
        var now = _time.GetTimestamp();
        if (now >= _runDeadline)
        {
            if (!_lost.IsCancellationRequested)
                DedupLog.MaxRunTimeExceeded(_logger, Claim.Key, Claim.Epoch, _options.MaxRunTime);
            MarkLost();
        }
        else if (now >= Volatile.Read(ref _leaseDeadline))
        {
            MarkLost(); // no renewal succeeded within a lease: another owner may hold the key now
        }
        else
        {
            ArmDeadline(); // a renewal moved the deadline after this firing was set
        }
    }

    void MarkLost()
    {
        if (Interlocked.Exchange(ref _lostSignalled, 1) == 1)
            return;
        DedupLog.LeaseLost(_logger, Claim.Key, Claim.Epoch);
        _stop.Cancel(); // nothing renews a lost claim
        _lost.Cancel();
    }

    long ToTicks(TimeSpan value) => (long)(value.TotalSeconds * _time.TimestampFrequency);
}
