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
    readonly TimeProvider _time;
    readonly ILogger _logger;

    public ClaimCoordinator(IDedupStore store, IOptions<DedupOptions> options, DedupMetrics metrics, TimeProvider time, ILogger<ClaimCoordinator> logger)
    {
        _store = store;
        Options = options.Value;
        Metrics = metrics;
        _time = time;
        _logger = logger;
    }

    public DedupOptions Options { get; }

    public DedupMetrics Metrics { get; }

    public ILogger Logger => _logger;

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
                var claimStarted = _time.GetTimestamp();
                var result = await ClaimAsync(key, owner, fingerprint, cancellationToken).ConfigureAwait(false);
                switch (result.Outcome)
                {
                    case ClaimOutcome.Claimed:
                    case ClaimOutcome.TakenOver:
                        if (result.Outcome == ClaimOutcome.TakenOver)
                        {
                            DedupLog.TakenOver(_logger, key, result.Epoch);
                            Metrics.Outcome(DedupOutcomes.TakenOver);
                        }

                        var claim = new ActiveClaim(_store, Options, _time, _logger, key, owner, result.Epoch,
                            result.Outcome == ClaimOutcome.TakenOver, claimStarted);
                        return new Acquisition(result, claim, Waited(watch));

                    case ClaimOutcome.Duplicate:
                    case ClaimOutcome.Conflict:
                        return new Acquisition(result, null, Waited(watch));
                }

                // Busy: another owner holds a live lease.
                var elapsed = _time.GetElapsedTime(started);
                if (Options.InFlight == InFlightPolicy.Redeliver || elapsed >= Options.InFlightWait)
                {
                    DedupLog.InFlightTimeout(_logger, key, (long)elapsed.TotalMilliseconds);
                    Metrics.Outcome(DedupOutcomes.InFlightTimeout);
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
                var wait = Min(result.LeaseRemaining + TimeSpan.FromMilliseconds(1), Options.InFlightWait - elapsed);
                await Task.WhenAny(watch.Changed, Task.Delay(wait, _time, cancellationToken)).ConfigureAwait(false);
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

    /// <summary>One claim, retried with the same owner token after a transient failure (its reply may have been lost).</summary>
    async Task<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await _store.ClaimAsync(key, owner, fingerprint, Options.Lease, Options.Retention, cancellationToken).ConfigureAwait(false);
            }
            catch (DedupStoreUnavailableException) when (attempt < Options.StoreRetries && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 << attempt), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}

/// <summary>What <see cref="ClaimCoordinator.AcquireAsync"/> found.</summary>
/// <param name="Result">The final claim reply.</param>
/// <param name="Claim">The owned claim when <see cref="ClaimResult.IsOwner"/>; the caller runs the work and completes or releases it.</param>
/// <param name="Waited">How long this caller waited for a copy in flight, when it did.</param>
internal readonly record struct Acquisition(ClaimResult Result, ActiveClaim? Claim, TimeSpan? Waited);
