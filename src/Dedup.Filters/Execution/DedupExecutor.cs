using System.Text.Json;
using Dedup.Diagnostics;
using Dedup.Protocol;
using Microsoft.Extensions.Options;

namespace Dedup.Execution;

/// <summary>The executor on the shared claim protocol (<see cref="ClaimCoordinator"/>); results are stored as JSON.</summary>
internal sealed class DedupExecutor : IDedupExecutor
{
    const string ScopeName = "Dedup.Executor";

    readonly ClaimCoordinator _coordinator;
    readonly DedupMetrics _metrics;
    readonly string _keyPrefix;
    readonly string _scope = DedupKey.Scope(ScopeName);

    public DedupExecutor(ClaimCoordinator coordinator, IOptions<DedupOptions> options, DedupMetrics metrics)
    {
        _coordinator = coordinator;
        _metrics = metrics;
        _keyPrefix = options.Value.KeyPrefix;
    }

    public Task<T> ExecuteAsync<T>(string key, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return ExecuteAsync(key, (_, token) => work(token), null, cancellationToken);
    }

    public Task<T> ExecuteAsync<T>(string key, Func<DedupClaim, CancellationToken, Task<T>> work, string? fingerprint = null, CancellationToken cancellationToken = default) =>
        RunAsync(key, work, null, fingerprint, cancellationToken);

    public Task<T> ExecuteAsync<T>(
        string key,
        Func<DedupClaim, CancellationToken, Task<T>> work,
        Func<DedupTakeover, CancellationToken, Task<TakeoverVerdict>> verifyTakeover,
        string? fingerprint = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(verifyTakeover);
        return RunAsync(key, work, verifyTakeover, fingerprint, cancellationToken);
    }

    async Task<T> RunAsync<T>(
        string key,
        Func<DedupClaim, CancellationToken, Task<T>> work,
        Func<DedupTakeover, CancellationToken, Task<TakeoverVerdict>>? verifyTakeover,
        string? fingerprint,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(work);

        // A cancelled caller claims nothing: the Redis store sends its script before it looks at the token, and the
        // claim it made would hold the key until its lease ran out, with nobody left to release it (issue 9).
        cancellationToken.ThrowIfCancellationRequested();
        var storeKey = DedupKey.ForCustomKey(_keyPrefix, _scope, key);
        var acquisition = await _coordinator.AcquireAsync(storeKey, fingerprint ?? string.Empty, cancellationToken).ConfigureAwait(false);
        var metrics = _metrics;

        switch (acquisition.Result.Outcome)
        {
            case ClaimOutcome.Duplicate:
                metrics.Outcome(acquisition.Waited is null ? DedupOutcomes.Duplicate : DedupOutcomes.InFlightWaited);
                return JsonSerializer.Deserialize<T>(acquisition.Result.Result.Span)!;
            case ClaimOutcome.Conflict:
                metrics.Outcome(DedupOutcomes.Conflict);
                throw new DedupConflictException(storeKey, fingerprint ?? string.Empty, acquisition.Result.StoredFingerprint ?? string.Empty);
        }

        await using var claim = acquisition.Claim!;
        if (cancellationToken.IsCancellationRequested)
        {
            // Cancelled between the claim and the work: give the key back now; left to the lease, the next caller
            // would wait for a whole lease (issue 9).
            await claim.ReleaseAsync().ConfigureAwait(false);
            metrics.Outcome(DedupOutcomes.Released);
            cancellationToken.ThrowIfCancellationRequested();
        }

        if (verifyTakeover is not null && acquisition.Result.MayFollowWork)
        {
            var takeover = new DedupTakeover(storeKey, acquisition.Result.PreviousEpoch, claim.Claim.Epoch);
            var recovered = await _coordinator.VerifyTakeoverAsync(claim, takeover.PreviousEpoch,
                token => verifyTakeover(takeover, token),
                applied => applied.Result is null or T
                    ? JsonSerializer.SerializeToUtf8Bytes((T?)applied.Result)
                    : throw new InvalidOperationException($"The takeover check's result is a {applied.Result.GetType()}, not the {typeof(T)} the work returns."),
                cancellationToken).ConfigureAwait(false);
            if (recovered is not null)
                return recovered.Result is T stored ? stored : default!;
        }

        claim.WorkStarting();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, claim.Claim.LeaseLost);
        T value;
        try
        {
            value = await work(claim.Claim, linked.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (claim.IsLost)
        {
            metrics.Outcome(DedupOutcomes.LeaseLost);
            throw new DedupLeaseLostException(storeKey, claim.Claim.Epoch, exception);
        }
        catch
        {
            await claim.ReleaseAsync().ConfigureAwait(false);
            metrics.Outcome(DedupOutcomes.Released);
            throw;
        }

        // The work returned: record it whatever the caller's token says by now. Completing with the caller's token
        // recorded nothing and released nothing, so the next caller waited a whole lease and ran the work again
        // (issue 9). The completion is still bounded: ActiveClaim retries a transient failure only while the lease holds.
        var record = JsonSerializer.SerializeToUtf8Bytes(value);
        if (!await claim.CompleteAsync(record, CancellationToken.None).ConfigureAwait(false))
        {
            metrics.Outcome(DedupOutcomes.LeaseLost);
            throw new DedupLeaseLostException(storeKey, claim.Claim.Epoch);
        }

        metrics.Outcome(DedupOutcomes.First);
        return value;
    }
}
