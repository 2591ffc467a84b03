using Dedup.Diagnostics;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dedup.Filters.Tests.Contract;

/// <summary>
/// The protocol core's timing on a fake clock (issue 13): when an owner renews and when it counts its lease as lost,
/// how long a duplicate waits for a copy in flight, how claims and completions are retried after transient store
/// failures, how long a record answers duplicates. Real types (<see cref="ClaimCoordinator"/>, <see cref="ActiveClaim"/>,
/// <see cref="LeaseMonitor"/>) on the in-memory store behind a <see cref="ScriptedStore"/>. Where the Redis server's
/// clock decides, the contract suite waits in real time. The clock is moved only once the timer the test expects is
/// armed (<see cref="ObservedClock"/>), so a loop that re-arms on another thread is never overtaken.
/// Not here because already pinned: lease loss at the deadline after failing renewals and MaxRunTime
/// (<see cref="ActiveClaimTests"/>), the store forgetting a record at the retention (<see cref="InMemoryStoreTests"/>).
/// </summary>
public sealed class ProtocolTimingTests : IAsyncLifetime
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(3); // renewed every second
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10); // a bound on awaiting a background loop, never a sleep

    readonly ObservedClock _clock = new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
    readonly InMemoryDedupStore _memory;
    readonly ScriptedStore _store;
    readonly DedupMetrics _metrics = new();
    readonly List<ActiveClaim> _claims = [];
    readonly string _key = DedupKey.ForMessageId("timing:", DedupKey.Scope("timing"), Guid.NewGuid());

    public ProtocolTimingTests()
    {
        _memory = new InMemoryDedupStore(_clock);
        _store = new ScriptedStore(_memory, _clock);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime, not IAsyncDisposable: xunit v2 never calls a test class's DisposeAsync.
    public async Task DisposeAsync()
    {
        foreach (var claim in _claims)
            await claim.DisposeAsync();
        _memory.Dispose();
        _metrics.Dispose();
    }

    // Renewals and the lease deadline.

    [Fact]
    public async Task Renewal_First_IsDueAThirdOfTheLeaseAfterTheClaimCallStarted()
    {
        _store.Claims.Takes = _ => Ms(200); // under a third of the lease: no confirming renewal
        var acquiring = AcquireAsync();
        await MoveToTimerAsync(200);
        await OwnAsync(acquiring);

        await MoveToTimerAsync(1000); // not 1200: the lease runs from the call's start
        await _store.Renewals.Called(1).WaitAsync(Wait);

        Assert.Equal([1000], StartedAt(_store.Renewals));
    }

    [Theory]
    [InlineData(400, 2000)] // answered at 1.4 s: the next is due a third after the first started, not after its answer
    [InlineData(1500, 2500)] // answered at 2.5 s, past that: the next starts at once
    public async Task Renewal_AfterASlowRenewal_NextIsDueAThirdAfterItStartedOrAtOnceWhenThatPassed(int takesMs, int nextAt)
    {
        _store.Renewals.Takes = call => call == 1 ? Ms(takesMs) : TimeSpan.Zero;
        await OwnAsync(AcquireAsync());
        await MoveToTimerAsync(1000);

        await MoveToTimerAsync(1000 + takesMs); // renewal 1 answers
        if (nextAt > 1000 + takesMs)
            await MoveToTimerAsync(nextAt);
        await _store.Renewals.Called(2).WaitAsync(Wait);

        Assert.Equal([1000, nextAt], StartedAt(_store.Renewals));
    }

    // The deadline a successful renewal sets counts from when it was sent, not from its answer: the store may have
    // renewed at once and nobody can take the key over before then.
    [Fact]
    public async Task LeaseLost_AfterASlowSuccessfulRenewal_IsSignalledALeaseAfterThatRenewalStarted()
    {
        _store.Renewals.Takes = call => call == 1 ? Ms(400) : TimeSpan.Zero;
        _store.Renewals.Failure = call => call == 1 ? null : Unavailable();
        var claim = await OwnAsync(AcquireAsync());
        await MoveToTimerAsync(1000);
        await MoveToTimerAsync(1400); // renewal 1 succeeds: the deadline is now 4 s
        await AsleepUntil(2000); // the monitor went on: the renewals from 2 s fail

        var (before, at) = LostAround(claim, 4000);

        Assert.False(before);
        Assert.True(at);
    }

    [Fact]
    public async Task LeaseLost_NoRenewalSucceeds_IsSignalledALeaseAfterTheClaimAttemptThatGotItStarted()
    {
        _store.Claims.Failure = call => call == 1 ? Unavailable() : null;
        _store.Claims.Takes = call => call == 2 ? Ms(200) : TimeSpan.Zero;
        _store.Renewals.Failure = _ => Unavailable();
        var acquiring = AcquireAsync();
        await MoveToTimerAsync(50); // the retry starts
        await MoveToTimerAsync(250); // and is answered
        var claim = await OwnAsync(acquiring);
        await AsleepUntil(1050); // the monitor runs: its first renewal is due

        var (before, at) = LostAround(claim, 3050);

        Assert.False(before);
        Assert.True(at);
    }

    // The in-flight wait (DedupOptions.InFlightWait).

    [Fact]
    public async Task Acquire_HolderKeepsItsLease_ThrowsInFlightTimeoutWhenTheWaitBudgetIsSpent()
    {
        await HoldAsync(TimeSpan.FromMinutes(1));
        var waiting = AcquireAsync(new DedupOptions { Lease = Lease, InFlightWait = TimeSpan.FromSeconds(2) });
        await AsleepUntil(2000);

        MoveClockTo(1999);
        var before = waiting.IsCompleted;
        MoveClockTo(2000);
        var timeout = await Assert.ThrowsAsync<DedupInFlightTimeoutException>(() => waiting.WaitAsync(Wait));

        Assert.False(before);
        Assert.Contains("after waiting 2000 ms", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Acquire_HolderDied_WakesAMillisecondAfterItsLeaseEndsAndTakesTheKeyOver()
    {
        var holder = await HoldAsync(TimeSpan.FromSeconds(1));
        var waiting = AcquireAsync(new DedupOptions { Lease = Lease, InFlightWait = TimeSpan.FromSeconds(10) });
        await AsleepUntil(1001);

        MoveClockTo(1000); // the lease ends: taking over is possible, but the waiter sleeps a millisecond more
        var claimsBefore = _store.Claims.Count;
        MoveClockTo(1001);
        var acquisition = Track(await waiting.WaitAsync(Wait));

        Assert.Equal(2, claimsBefore); // the first claim, and the one after registering for the notification
        Assert.Equal(ClaimOutcome.TakenOver, acquisition.Result.Outcome);
        Assert.Equal(holder.Epoch, acquisition.Result.PreviousEpoch);
        Assert.Equal(Ms(1001), acquisition.Waited);
    }

    [Fact]
    public async Task Acquire_HolderRenewedPastItsLeaseEnd_WaitsAgainOnlyForWhatIsLeftOfTheBudget()
    {
        var holder = await HoldAsync(Lease);
        var waiting = AcquireAsync(new DedupOptions { Lease = Lease, InFlightWait = TimeSpan.FromSeconds(4) });
        await AsleepUntil(3001);
        MoveClockTo(2000);
        Assert.True(await _memory.RenewAsync(_key, "holder", holder.Epoch, Lease, default)); // its lease now ends at 5 s
        await MoveToTimerAsync(3001); // wakes, finds the holder still there
        await AsleepUntil(4000); // the budget's end, not the holder's lease end (5.001 s)

        MoveClockTo(3999);
        var before = waiting.IsCompleted;
        MoveClockTo(4000);
        await Assert.ThrowsAsync<DedupInFlightTimeoutException>(() => waiting.WaitAsync(Wait));

        Assert.False(before);
        Assert.Equal([0, 0, 3001, 4000], StartedAt(_store.Claims));
    }

    [Theory]
    [InlineData(InFlightPolicy.Redeliver, 10_000)]
    [InlineData(InFlightPolicy.Wait, 0)]
    public async Task Acquire_RedeliverPolicyOrNoWaitBudget_ThrowsInFlightTimeoutAtOnce(InFlightPolicy policy, int inFlightWaitMs)
    {
        await HoldAsync(TimeSpan.FromMinutes(1));

        var waiting = AcquireAsync(new DedupOptions { Lease = Lease, InFlight = policy, InFlightWait = Ms(inFlightWaitMs) });

        Assert.True(waiting.IsCompleted); // the clock never moved
        await Assert.ThrowsAsync<DedupInFlightTimeoutException>(() => waiting);
        Assert.Equal(1, _store.Claims.Count); // no registration for the notification, no second claim
    }

    // Retries after transient store failures.

    [Theory]
    [InlineData(0, new[] { 0 })]
    [InlineData(2, new[] { 0, 50, 150 })] // the default
    [InlineData(4, new[] { 0, 50, 150, 350, 750 })]
    public async Task Acquire_StoreKeepsFailing_RetriesAfter50MsDoublingThenThrows(int storeRetries, int[] calls)
    {
        _store.Claims.Failure = _ => Unavailable();
        var options = new DedupOptions { Lease = Lease, StoreRetries = storeRetries };

        await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => AfterRetriesAsync(AcquireAsync(options), calls.Skip(1)));
        Assert.Equal(calls, StartedAt(_store.Claims));
    }

    [Fact]
    public async Task Complete_StoreFailsTransiently_RetriesAfter50MsDoublingUpTo1s()
    {
        _store.Completions.Failure = call => call <= 7 ? Unavailable() : null;
        var claim = await OwnAsync(AcquireAsync(new DedupOptions { Lease = TimeSpan.FromSeconds(30) })); // holds throughout

        var completed = await AfterRetriesAsync(claim.CompleteAsync("r"u8.ToArray(), default), [50, 150, 350, 750, 1550, 2550, 3550]);

        Assert.True(completed);
        Assert.Equal([0, 50, 150, 350, 750, 1550, 2550, 3550], StartedAt(_store.Completions));
    }

    // The lease ends at 3 s (renewals stop once completing begins); a retry is made only when it would start before then.
    [Theory]
    [InlineData(449, new[] { 449, 499, 599, 799, 1199, 1999, 2999 })] // the next would start at 3999
    [InlineData(450, new[] { 450, 500, 600, 800, 1200, 2000 })] // the next would start at 3000, the deadline itself
    public async Task Complete_StoreKeepsFailing_RetriesOnlyWhileTheLeaseHolds(int completeAt, int[] calls)
    {
        _store.Completions.Failure = _ => Unavailable();
        var claim = await OwnAsync(AcquireAsync());
        MoveClockTo(completeAt);

        await Assert.ThrowsAsync<DedupStoreUnavailableException>(() => AfterRetriesAsync(claim.CompleteAsync("r"u8.ToArray(), default), calls.Skip(1)));
        Assert.Equal(calls, StartedAt(_store.Completions));
    }

    // The retention (DedupOptions.Retention), through the coordinator: it counts from the completion, not the claim.

    [Fact]
    public async Task Retention_CompletedRecord_AnswersDuplicatesForTheRetentionAfterTheCompletion()
    {
        var options = new DedupOptions { Lease = TimeSpan.FromSeconds(30), Retention = TimeSpan.FromSeconds(100) };
        var claim = await OwnAsync(AcquireAsync(options));
        MoveClockTo(2000);
        Assert.True(await claim.CompleteAsync("r"u8.ToArray(), default).WaitAsync(Wait));

        MoveClockTo(101_999);
        var within = Track(await AcquireAsync(options).WaitAsync(Wait));
        MoveClockTo(102_000);
        var after = Track(await AcquireAsync(options).WaitAsync(Wait));

        Assert.Equal(ClaimOutcome.Duplicate, within.Result.Outcome);
        Assert.Equal("r"u8.ToArray(), within.Result.Result.ToArray());
        Assert.Equal(ClaimOutcome.Claimed, after.Result.Outcome);
        Assert.Equal(0, after.Result.PreviousEpoch); // a fresh claim: the record is gone, not released
    }

    Task<Acquisition> AcquireAsync(DedupOptions? options = null) =>
        new ClaimCoordinator(_store, Microsoft.Extensions.Options.Options.Create(options ?? new DedupOptions { Lease = Lease }),
            _metrics, _clock, NullLogger<ClaimCoordinator>.Instance).AcquireAsync(_key, "fp", default);

    async Task<ActiveClaim> OwnAsync(Task<Acquisition> acquiring)
    {
        var acquisition = Track(await acquiring.WaitAsync(Wait));
        Assert.NotNull(acquisition.Claim);
        return acquisition.Claim;
    }

    /// <summary>An owned claim is given back when the test ends.</summary>
    Acquisition Track(Acquisition acquisition)
    {
        if (acquisition.Claim is { } claim)
            _claims.Add(claim);
        return acquisition;
    }

    /// <summary>Another owner claims the key in the store and never renews unless the test does.</summary>
    async Task<ClaimResult> HoldAsync(TimeSpan lease) =>
        await _memory.ClaimAsync(_key, "holder", "fp", lease, TimeSpan.FromHours(1), default);

    Task AsleepUntil(int milliseconds) => _clock.ArmedFor(_clock.Start + Ms(milliseconds), Wait);

    void MoveClockTo(int milliseconds) => _clock.SetUtcNow(_clock.Start + Ms(milliseconds));

    /// <summary>Whether <paramref name="claim"/> counts as lost a millisecond before <paramref name="milliseconds"/>, and at it.</summary>
    (bool Before, bool At) LostAround(ActiveClaim claim, int milliseconds)
    {
        MoveClockTo(milliseconds - 1);
        var before = claim.IsLost;
        MoveClockTo(milliseconds);
        return (before, claim.IsLost);
    }

    /// <summary>Waits until a timer is armed for <paramref name="milliseconds"/>, then moves the clock there.</summary>
    async Task MoveToTimerAsync(int milliseconds)
    {
        await AsleepUntil(milliseconds);
        MoveClockTo(milliseconds);
    }

    /// <summary>Moves the clock to each retry of <paramref name="running"/> once it is armed, then waits for its end.</summary>
    async Task<T> AfterRetriesAsync<T>(Task<T> running, IEnumerable<int> retries)
    {
        foreach (var due in retries)
            await MoveToTimerAsync(due);
        return await running.WaitAsync(Wait);
    }

    int[] StartedAt(ScriptedCalls calls) => [.. calls.StartedAt.Select(at => (int)(at - _clock.Start).TotalMilliseconds)];

    static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    static DedupStoreUnavailableException Unavailable() => new("Redis did not answer in time (test)");
}
