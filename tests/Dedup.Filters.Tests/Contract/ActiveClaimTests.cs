using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Dedup.Filters.Tests.Contract;

/// <summary>
/// The owner's side of a claim on a fake clock (issue 9, items 5 to 7): how <see cref="ActiveClaim"/> renews, when
/// it signals a lost lease, and what it records after one. The store is the in-memory one behind a decorator that
/// makes renewals fail on demand (<see cref="ScriptedStore"/>).
/// </summary>
public sealed class ActiveClaimTests : IAsyncDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(3); // renewed every second
    static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10); // a bound on awaiting the renewal loop, never a sleep

    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    readonly InMemoryDedupStore _memory;
    readonly ScriptedStore _store;
    readonly RecordingLogger _logger = new();
    readonly DedupOptions _options = new() { Lease = Lease, MaxRunTime = TimeSpan.FromSeconds(10) };
    readonly string _key = DedupKey.ForMessageId("active:", DedupKey.Scope("active"), Guid.NewGuid());
    ActiveClaim? _claim;

    public ActiveClaimTests()
    {
        _memory = new InMemoryDedupStore(_time);
        _store = new ScriptedStore(_memory, _time);
    }

    public async ValueTask DisposeAsync()
    {
        if (_claim is not null)
            await _claim.DisposeAsync();
        _memory.Dispose();
    }

    /// <summary>Claims the key in the store (with <paramref name="storeLease"/>) and starts an owner's claim on it now.</summary>
    async Task<ActiveClaim> ClaimAsync(TimeSpan? storeLease = null)
    {
        var claimed = await _memory.ClaimAsync(_key, "owner", "fp", storeLease ?? Lease, _options.Retention, default);
        return _claim = new ActiveClaim(_store, _options, _time, _logger, _key, "owner", claimed.Epoch, takenOver: false, _time.GetTimestamp()).Start();
    }

    /// <summary>Moves the clock by a second and waits until the renewal loop made its <paramref name="call"/>th call.</summary>
    async Task RenewalAsync(int call)
    {
        _time.Advance(Second);
        await _store.Renewals.Called(call).WaitAsync(Wait);
    }

    // Item 5: an exception other than DedupStoreUnavailableException escaped both catches and ended the loop.
    [Fact]
    public async Task RenewLoop_StoreThrowsUnexpectedly_KeepsRenewing()
    {
        _store.Renewals.Failure = call => call == 2 ? new InvalidOperationException("a bug in a store decorator") : null;
        var claim = await ClaimAsync();

        await RenewalAsync(1);
        await RenewalAsync(2); // throws
        await RenewalAsync(3); // the loop is still there

        Assert.False(claim.Claim.LeaseLost.IsCancellationRequested);
        Assert.Contains(_logger.EventIds, id => id == 31);
    }

    [Fact]
    public async Task RenewLoop_StoreAlwaysThrowsUnexpectedly_SignalsLeaseLostByTheDeadline()
    {
        _store.Renewals.Failure = _ => new InvalidOperationException("a bug in a store decorator");
        var claim = await ClaimAsync();

        _time.Advance(Lease);

        Assert.True(claim.Claim.LeaseLost.IsCancellationRequested);
    }

    // Item 6: LeaseLost fired only once a renewal had failed past the deadline: late by as long as a renewal
    // takes to time out. Here each renewal fails transiently after 2.5 s, as a Redis call that times out does.
    [Fact]
    public async Task LeaseLost_RenewalsFailingTransiently_IsSignalledExactlyAtTheDeadline()
    {
        _store.Renewals.Failure = _ => new DedupStoreUnavailableException("Redis did not answer in time");
        _store.Renewals.Takes = _ => TimeSpan.FromSeconds(2.5);
        var claim = await ClaimAsync();

        _time.Advance(Lease - TimeSpan.FromMilliseconds(1));
        var before = claim.Claim.LeaseLost.IsCancellationRequested;
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.False(before);
        Assert.True(claim.Claim.LeaseLost.IsCancellationRequested);
    }

    [Fact]
    public async Task LeaseLost_AfterEachSuccessfulRenewal_MovesToTheNewDeadline()
    {
        _store.Renewals.Failure = call => call >= 2 ? new DedupStoreUnavailableException("Redis did not answer in time") : null;
        _store.Renewals.Takes = call => call >= 2 ? TimeSpan.FromSeconds(2.5) : TimeSpan.Zero;
        var claim = await ClaimAsync();

        await RenewalAsync(1); // ok at 1 s: the deadline moves to 4 s
        await RenewalAsync(2); // starts at 2 s, fails at 4.5 s
        _time.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(1));
        var before = claim.Claim.LeaseLost.IsCancellationRequested;
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.False(before);
        Assert.True(claim.Claim.LeaseLost.IsCancellationRequested);
    }

    // Item 6: work whose token was cancelled by a lease loss is not recorded. Issue 10: nor released, since the work may
    // have happened: the lease is cut, so the next copy is a takeover (which asks the takeover check), not a fresh claim.
    [Fact]
    public async Task CompleteAsync_AfterASignalledLoss_CutsTheLeaseAndReturnsFalse_TheNextCopyTakesOver()
    {
        var claim = await LoseWhileTheStoreStillHoldsItAsync();

        var completed = await claim.CompleteAsync("r"u8.ToArray(), default);
        _time.Advance(TimeSpan.FromMilliseconds(2)); // past the cut lease (1 ms)
        var next = await _memory.ClaimAsync(_key, "next", "fp", Lease, _options.Retention, default);

        Assert.False(completed);
        Assert.Equal(ClaimOutcome.TakenOver, next.Outcome);
        Assert.Equal(claim.Claim.Epoch, next.PreviousEpoch);
    }

    [Fact]
    public async Task ReleaseAsync_AfterASignalledLoss_CutsTheLease_TheNextCopyTakesOver()
    {
        var claim = await LoseWhileTheStoreStillHoldsItAsync();

        await claim.ReleaseAsync();
        _time.Advance(TimeSpan.FromMilliseconds(2));
        var next = await _memory.ClaimAsync(_key, "next", "fp", Lease, _options.Retention, default);

        Assert.Equal(ClaimOutcome.TakenOver, next.Outcome);
    }

    [Fact]
    public async Task ReleaseAsync_NotLost_GivesTheKeyBack()
    {
        var claim = await ClaimAsync();

        await claim.ReleaseAsync();
        var next = await _memory.ClaimAsync(_key, "next", "fp", Lease, _options.Retention, default);

        Assert.Equal(ClaimOutcome.Claimed, next.Outcome);
    }

    /// <summary>Renewals fail past the deadline (Redis unreachable), then the store answers again, still holding the claim.</summary>
    async Task<ActiveClaim> LoseWhileTheStoreStillHoldsItAsync()
    {
        _store.Renewals.Failure = _ => new DedupStoreUnavailableException("Redis did not answer in time");
        _store.Renewals.Takes = _ => TimeSpan.FromSeconds(2.5);
        var claim = await ClaimAsync(storeLease: TimeSpan.FromMinutes(1)); // the store still holds it after the local loss
        _time.Advance(Lease);
        Assert.True(claim.Claim.LeaseLost.IsCancellationRequested);
        _store.Renewals.Failure = _ => null;
        _store.Renewals.Takes = _ => TimeSpan.Zero;
        return claim;
    }

    // Item 7: a hung consumer renewed for ever while its duplicates cycled.
    [Fact]
    public async Task MaxRunTime_Reached_SignalsLeaseLostLogsAndStopsRenewing()
    {
        var claim = await ClaimAsync();
        for (var call = 1; call <= 9; call++)
            await RenewalAsync(call);

        _time.Advance(Second - TimeSpan.FromMilliseconds(1));
        var before = claim.Claim.LeaseLost.IsCancellationRequested;
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.False(before);
        Assert.True(claim.Claim.LeaseLost.IsCancellationRequested);
        Assert.Contains(_logger.EventIds, id => id == 30);
        await claim.Renewals.WaitAsync(Wait); // the loop ended by itself
    }

    [Fact]
    public async Task MaxRunTime_Reached_LetsACopyTakeOverOnceTheLeaseRunsOut()
    {
        await ClaimAsync();
        for (var call = 1; call <= 9; call++)
            await RenewalAsync(call);
        _time.Advance(Second); // 10 s: the last renewal was at 9 s

        _time.Advance(TimeSpan.FromSeconds(2) + TimeSpan.FromMilliseconds(1));
        var copy = await _memory.ClaimAsync(_key, "copy", "fp", Lease, _options.Retention, default);

        Assert.Equal(ClaimOutcome.TakenOver, copy.Outcome);
    }

    [Theory]
    [InlineData(2)] // below the lease (3 s)
    [InlineData(25 * 3600)]
    public void Options_MaxRunTimeOutOfRange_FailsNamingTheRule(int seconds)
    {
        var options = new DedupOptions { Lease = Lease, MaxRunTime = TimeSpan.FromSeconds(seconds) };

        var result = new DedupOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Dedup:MaxRunTime must be at least Dedup:Lease", result.FailureMessage, StringComparison.Ordinal);
    }

    sealed class RecordingLogger : ILogger
    {
        readonly List<int> _eventIds = [];

        public IReadOnlyList<int> EventIds
        {
            get
            {
                lock (_eventIds)
                    return [.. _eventIds];
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_eventIds)
                _eventIds.Add(eventId.Id);
        }
    }
}
