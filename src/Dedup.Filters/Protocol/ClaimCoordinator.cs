using Dedup.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Dedup.Protocol;

/// <summary>
/// Drives the claim protocol for one unit of work; shared by the executor and the MassTransit filter so there is
/// one copy of it. It claims, waits for a copy in flight (woken by the store's notification, bounded by
/// <see cref="DedupOptions.InFlightWait"/>), retries an ambiguous claim with the same owner token, and hands an
/// owned claim back as an <see cref="ActiveClaim"/> that renews its lease.
/// </summary>
internal sealed class ClaimCoordinator
{
    readonly IDedupStore _store;
    readonly DedupOptions _options;
    readonly DedupMetrics _metrics;
    readonly TimeProvider _time;
    readonly ILogger _logger;

    public ClaimCoordinator(IDedupStore store, IOptions<DedupOptions> options, DedupMetrics metrics, TimeProvider time, ILogger<ClaimCoordinator> logger)
    {
        _store = store;
        _options = options.Value;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    /// <summary>Claims <paramref name="key"/>; see <see cref="Acquisition"/> for what comes back.</summary>
    /// <exception cref="DedupInFlightTimeoutException">Another copy was still in flight when the wait ran out.</exception>
    /// <exception cref="DedupStoreUnavailableException">The store failed, also after the retries.</exception>
    public async Task<Acquisition> AcquireAsync(string key, string fingerprint, CancellationToken cancellationToken)
    {
        var owner = DedupKey.NewOwnerToken();
        var started = _time.GetTimestamp();
        KeyWatch? watch = null;
        try
        {
            while (true)
            {
                ClaimResult result;
                long claimStarted;
                try
                {
                    (result, claimStarted) = await ClaimAsync(key, owner, fingerprint, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // The claim may have reached the store before the caller gave up (a Redis script runs once sent).
                    await ReleaseOrphanAsync(key, owner, fingerprint).ConfigureAwait(false);
                    throw;
                }
                switch (result.Outcome)
                {
                    case ClaimOutcome.Claimed:
                    case ClaimOutcome.TakenOver:
                        if (result.Outcome == ClaimOutcome.TakenOver)
                        {
                            DedupLog.TakenOver(_logger, key, result.Epoch);
                            _metrics.Outcome(DedupOutcomes.TakenOver);
                        }

                        if (await ConfirmSlowClaimAsync(key, owner, result.Epoch, claimStarted, cancellationToken).ConfigureAwait(false) is not { } confirmed)
                            continue; // the claim was already lost when its reply arrived: claim again, and see who has the key now
                        claimStarted = confirmed;
                        var claim = new ActiveClaim(_store, _options, _time, _logger, key, owner, result.Epoch,
                            result.Outcome == ClaimOutcome.TakenOver, claimStarted);
                        return new Acquisition(result, claim.Start(), Waited(watch));

                    case ClaimOutcome.Duplicate:
                    case ClaimOutcome.Conflict:
                        return new Acquisition(result, null, Waited(watch));
                }

                // Busy: another owner holds a live lease.
                var elapsed = _time.GetElapsedTime(started);
                if (_options.InFlight == InFlightPolicy.Redeliver || elapsed >= _options.InFlightWait)
                {
                    DedupLog.InFlightTimeout(_logger, key, (long)elapsed.TotalMilliseconds);
                    _metrics.Outcome(DedupOutcomes.InFlightTimeout);
                    throw new DedupInFlightTimeoutException(key, elapsed);
                }

                if (watch is null)
                {
                    // First Busy: register for the store's notification, then claim again at once, so a completion
                    // between the first claim and the registration cannot be missed. Uncontended claims never pay this.
                    watch = _store.Watch(key);
                    continue;
                }

                // Sleep until the key changes, the holder's lease runs out, or the wait budget does.
                var wait = Min(result.LeaseRemaining + TimeSpan.FromMilliseconds(1), _options.InFlightWait - elapsed);
                using (var sleep = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    var timer = Task.Delay(wait, _time, sleep.Token);
                    await Task.WhenAny(watch.Changed, timer).ConfigureAwait(false);
                    await sleep.CancelAsync().ConfigureAwait(false); // a waiter woken by the notification leaves no timer behind
                }

                cancellationToken.ThrowIfCancellationRequested();
                watch.Dispose();
                watch = _store.Watch(key);
            }
        }
        finally
        {
            watch?.Dispose();
        }

        TimeSpan? Waited(KeyWatch? w) => w is null ? null : _time.GetElapsedTime(started);
    }

    /// <summary>
    /// The takeover step shared by the filter and the executor: asks <paramref name="check"/> (under the new claim, whose
    /// lease keeps renewing) whether the previous owner's work happened. When it did, the claim is completed with the
    /// record <paramref name="encode"/> makes of the verdict, and the verdict is returned; when not, null (run the work).
    /// A check that throws (or a verdict <paramref name="encode"/> refuses) abandons the claim, so the next copy is a
    /// takeover too and asks again.
    /// </summary>
    /// <exception cref="DedupTakeoverCheckException">The check failed: nothing ran, nothing was recorded.</exception>
    /// <exception cref="DedupLeaseLostException">The check said applied, but the claim was lost before it could be completed.</exception>
    public async Task<TakeoverVerdict?> VerifyTakeoverAsync(
        ActiveClaim claim,
        long previousEpoch,
        Func<CancellationToken, Task<TakeoverVerdict>> check,
        Func<TakeoverVerdict, ReadOnlyMemory<byte>> encode,
        CancellationToken cancellationToken)
    {
        var key = claim.Claim.Key;
        var epoch = claim.Claim.Epoch;
        TakeoverVerdict verdict;
        ReadOnlyMemory<byte> record;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, claim.Claim.LeaseLost);
            verdict = await check(linked.Token).ConfigureAwait(false)
                      ?? throw new InvalidOperationException("The takeover check returned null; return TakeoverVerdict.NotApplied or TakeoverVerdict.Applied(...).");
            if (!verdict.IsApplied)
                return null;
            record = encode(verdict);
        }
        catch (Exception exception)
        {
            await claim.AbandonAsync().ConfigureAwait(false);
            DedupLog.TakeoverCheckFailed(_logger, key, epoch, exception);
            _metrics.Outcome(DedupOutcomes.TakeoverCheckFailed);
            throw new DedupTakeoverCheckException(key, epoch, exception);
        }

        if (!await claim.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
        {
            _metrics.Outcome(DedupOutcomes.LeaseLost);
            throw new DedupLeaseLostException(key, epoch);
        }

        DedupLog.Recovered(_logger, key, epoch, previousEpoch);
        _metrics.Outcome(DedupOutcomes.Recovered);
        return verdict;
    }

    /// <summary>
    /// One claim, retried with the same owner token after a transient failure (its reply may have been lost). Returns the
    /// reply and when the attempt that got it started: the lease the store granted runs from no earlier than that.
    /// </summary>
    async Task<(ClaimResult Result, long Started)> ClaimAsync(string key, string owner, string fingerprint, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var started = _time.GetTimestamp();
            try
            {
                return (await _store.ClaimAsync(key, owner, fingerprint, _options.Lease, _options.Retention, cancellationToken).ConfigureAwait(false), started);
            }
            catch (DedupStoreUnavailableException) when (attempt < _options.StoreRetries && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 << attempt), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// A claim whose call took more than a third of the lease (a reconnecting client queues commands; a loaded Redis)
    /// is renewed at once: the local lease deadline counts from the call's start, so without this the claim would count
    /// as lost on arrival, and work that then ran could not be recorded. Returns the start the deadline counts from, or
    /// null when the store answers that the claim is already lost.
    /// </summary>
    async Task<long?> ConfirmSlowClaimAsync(string key, string owner, long epoch, long claimStarted, CancellationToken cancellationToken)
    {
        if (_time.GetElapsedTime(claimStarted) <= _options.Lease / 3)
            return claimStarted;

        var renewStarted = _time.GetTimestamp();
        try
        {
            if (await _store.RenewAsync(key, owner, epoch, _options.Lease, cancellationToken).ConfigureAwait(false))
                return renewStarted;

            // Lost: past its lease another owner took the key over (and may have completed it). Running the work on
            // this claim would run it twice.
            DedupLog.LostOnArrival(_logger, key, epoch, (long)_time.GetElapsedTime(claimStarted, renewStarted).TotalMilliseconds);
            return null;
        }
        catch (DedupStoreUnavailableException exception)
        {
            // Unknown: the lease monitor decides by the deadline, as for any failed renewal.
            DedupLog.RenewFailed(_logger, key, exception);
        }

        return claimStarted;
    }

    /// <summary>
    /// Gives back a claim whose caller was cancelled while it was in flight: claiming again with the same owner token is
    /// idempotent and answers with the epoch if the cancelled claim got through; then it is given back as any claim
    /// whose work never started (<see cref="ActiveClaim.ReleaseAsync"/>: a takeover's lease is cut, anything else is
    /// released). Best effort.
    /// </summary>
    async Task ReleaseOrphanAsync(string key, string owner, string fingerprint)
    {
        ClaimResult result;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            result = await _store.ClaimAsync(key, owner, fingerprint, _options.Lease, _options.Retention, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DedupStoreUnavailableException or OperationCanceledException)
        {
            DedupLog.ReleaseFailed(_logger, key, 0, exception);
            return;
        }

        if (!result.IsOwner)
            return;
        await using var orphan = new ActiveClaim(_store, _options, _time, _logger, key, owner, result.Epoch,
            result.Outcome == ClaimOutcome.TakenOver, _time.GetTimestamp());
        await orphan.ReleaseAsync().ConfigureAwait(false);
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>What <see cref="ClaimCoordinator.AcquireAsync"/> found.</summary>
/// <param name="Result">The final claim reply.</param>
/// <param name="Claim">The owned claim when <see cref="ClaimResult.IsOwner"/>; the caller runs the work and completes or releases it.</param>
/// <param name="Waited">How long this caller waited for a copy in flight, when it did.</param>
internal readonly record struct Acquisition(ClaimResult Result, ActiveClaim? Claim, TimeSpan? Waited);
