using System.Collections.Concurrent;
using System.Reflection;
using Dedup.Diagnostics;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 5: the lease monitor on one timer until the first renewal (commits 9f3e4bb, 6ebacef) and owner tokens from a
/// per-process nonce and a counter (ffcc049), on a fake clock with the in-memory store. Promises attacked (README "The
/// claim protocol", "What each failure leads to"; <see cref="LeaseMonitor"/>'s doc comments):
/// 1 renewals keep a long claim's key; 2 no renewal within a lease cancels LeaseLost at the local deadline, and the claim
/// is then never completed nor released; 3 MaxRunTime; 4 stop/complete races around the first-renewal timer and a
/// renewal in flight; 5 a loss answered by the very first renewal; 6 owner tokens.
/// </summary>
public sealed class LeaseMonitorRedTeam5Tests : IAsyncLifetime
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(3); // first renewal at 1 s, deadline at 3 s
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(10); // a bound on awaiting background work, never a sleep

    readonly ObservedClock _clock = new(new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero));
    readonly RecordingLogger _log = new();
    readonly DedupMetrics _metrics = new();
    readonly List<ActiveClaim> _claims = [];

    readonly InMemoryDedupStore _memory;
    readonly ProbeStore _store;
    readonly ITestOutputHelper _output;

    public LeaseMonitorRedTeam5Tests(ITestOutputHelper output)
    {
        _output = output;
        _memory = new InMemoryDedupStore(_clock);
        _store = new ProbeStore(_memory);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _log.ReleaseAll();
        foreach (var claim in _claims)
            await claim.DisposeAsync();
        _memory.Dispose();
        _metrics.Dispose();
    }

    // ---- 1. Renewals keep a long claim's key ----------------------------------------------------------------------

    // PASSING PROBE: 90 renewals (30 leases) on the fake clock; another owner is busy at every step, never takes over.
    [Fact]
    public async Task RedTeam5_LongWork_ThirtyLeases_KeepsItsKeyThroughEveryRenewal()
    {
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease, MaxRunTime = TimeSpan.FromHours(1) });

        for (var renewal = 1; renewal <= 90; renewal++)
        {
            await MoveToTimerAsync(renewal * 1000);
            await _store.RenewStarted(renewal).WaitAsync(Wait);
            await _store.RenewEnded(renewal).WaitAsync(Wait);
            if (renewal % 10 == 0)
                Assert.Equal(ClaimOutcome.Busy, (await _memory.ClaimAsync(key, "intruder", "fp", Lease, Retention, default)).Outcome);
            Assert.False(claim.IsLost, $"lost after renewal {renewal}");
        }

        Assert.True(await claim.CompleteAsync("r"u8.ToArray(), default));
        Assert.Equal(ClaimOutcome.Duplicate, (await _memory.ClaimAsync(key, "next", "fp", Lease, Retention, default)).Outcome);
        Assert.DoesNotContain(5, _log.EventIds);
        Assert.All(_store.RenewAnswers(), ok => Assert.True(ok));
    }

    // ---- 2. No renewal within a lease ------------------------------------------------------------------------------

    // PASSING PROBE: the store hangs from the very first renewal (a call that never answers but honours cancellation, as
    // the Redis store's WaitAsync does). LeaseLost exactly a lease after the claim, the work's linked token with it; the
    // hung renewal is cancelled, the claim is not completed, and its lease is cut (the next copy takes over at once).
    [Fact]
    public async Task RedTeam5_StoreHangsFromTheFirstRenewal_LostExactlyAtTheDeadline_NotCompleted_LeaseCut()
    {
        _store.BeforeRenew = (call, token) => call == 1 ? Task.Delay(Timeout.InfiniteTimeSpan, token) : Task.CompletedTask; // call 2: the cut
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease }, storeLease: TimeSpan.FromMinutes(1));
        using var work = CancellationTokenSource.CreateLinkedTokenSource(claim.Claim.LeaseLost);
        await MoveToTimerAsync(1000);
        await _store.RenewStarted(1).WaitAsync(Wait);
        await AsleepUntil(3000);

        var (before, at) = LostAround(claim, 3000);
        await claim.Renewals.WaitAsync(Wait); // the hung renewal was cancelled by the loss
        var completed = await claim.CompleteAsync("r"u8.ToArray(), default).WaitAsync(Wait);
        MoveClockTo(3002); // past the cut lease (1 ms)
        var next = await _memory.ClaimAsync(key, "next", "fp", Lease, Retention, default);

        Assert.False(before);
        Assert.True(at);
        Assert.True(work.IsCancellationRequested);
        Assert.False(completed);
        Assert.Equal(ClaimOutcome.TakenOver, next.Outcome);
        Assert.Equal(claim.Claim.Epoch, next.PreviousEpoch);
        Assert.Equal(1, _log.EventIds.Count(id => id == 5));
    }

    // PASSING PROBE: five renewals succeed (the fifth slowly: 800 ms), then every renewal fails as unavailable. LeaseLost
    // exactly a lease after the START of the fifth (the last successful) renewal, not after its answer.
    [Fact]
    public async Task RedTeam5_RenewalsFailAfterFive_LostALeaseAfterTheLastSuccessfulRenewalStarted()
    {
        _store.BeforeRenew = (call, token) => call switch
        {
            5 => Task.Delay(TimeSpan.FromMilliseconds(800), _clock, token),
            > 5 => Task.FromException(new DedupStoreUnavailableException("Redis did not answer in time (test)")),
            _ => Task.CompletedTask,
        };
        var claim = await OwnAsync(NewKey(), new DedupOptions { Lease = Lease, MaxRunTime = TimeSpan.FromHours(1) });
        for (var renewal = 1; renewal <= 4; renewal++)
        {
            await MoveToTimerAsync(renewal * 1000);
            await _store.RenewEnded(renewal).WaitAsync(Wait); // the clock moves on only once this renewal is done
        }

        await MoveToTimerAsync(5000);
        await _store.RenewStarted(5).WaitAsync(Wait);
        await MoveToTimerAsync(5800); // renewal 5 (started at 5 s) answers ok: the deadline is 8 s
        await _store.RenewEnded(5).WaitAsync(Wait);
        await AsleepUntil(6000); // the next renewal (fails)
        MoveClockTo(6000);
        await _store.RenewEnded(6).WaitAsync(Wait);
        await AsleepUntil(8000);

        var (before, at) = LostAround(claim, 8000);

        Assert.False(before);
        Assert.True(at);
        await claim.Renewals.WaitAsync(Wait);
        Assert.False(await claim.CompleteAsync("r"u8.ToArray(), default));
    }

    // PASSING PROBE: the claim is handed out late (Start runs 3.5 s after the claim call began, past its first renewal and
    // past its lease deadline) and another owner took the key over meanwhile. The claim is lost (whether the deadline timer
    // or the renewal loop notices first), nothing is completed, and the thief's claim is untouched.
    [Fact]
    public async Task RedTeam5_StartedAfterItsDeadline_IsLost_NotCompleted()
    {
        var key = NewKey();
        var claimed = await _memory.ClaimAsync(key, "late", "fp", Lease, Retention, default);
        var claimStarted = _clock.GetTimestamp();
        MoveClockTo(3200);
        var thief = await _memory.ClaimAsync(key, "thief", "fp", Lease, Retention, default);
        MoveClockTo(3500);

        var claim = Track(new ActiveClaim(_store, new DedupOptions { Lease = Lease }, _clock, _log, key, "late", claimed.Epoch, takenOver: false, claimStarted).Start());
        await claim.Renewals.WaitAsync(Wait);

        Assert.Equal(ClaimOutcome.TakenOver, thief.Outcome);
        Assert.True(claim.IsLost);
        Assert.False(await claim.CompleteAsync("r"u8.ToArray(), default));
        Assert.True(await _memory.CompleteAsync(key, "thief", thief.Epoch, "t"u8.ToArray(), Retention, default));
        _output.WriteLine($"renewals sent after the deadline: {_store.RenewCount}");
    }

    // ---- 3. MaxRunTime ---------------------------------------------------------------------------------------------

    // PASSING PROBE: MaxRunTime (4.5 s) not on a renewal boundary; renewals all succeed. Lost exactly at 4.5 s, event 30
    // logged, the loop ends by itself, and the completion is refused locally.
    [Theory]
    [InlineData(4500)]
    [InlineData(3000)] // MaxRunTime equal to the lease: the smallest allowed
    public async Task RedTeam5_MaxRunTime_LostExactlyThen_WhileRenewalsSucceed(int maxRunTimeMs)
    {
        var claim = await OwnAsync(NewKey(), new DedupOptions { Lease = Lease, MaxRunTime = Ms(maxRunTimeMs) });
        for (var renewal = 1; renewal * 1000 < maxRunTimeMs; renewal++)
        {
            await MoveToTimerAsync(renewal * 1000);
            await _store.RenewEnded(renewal).WaitAsync(Wait);
        }

        await AsleepUntil(maxRunTimeMs);
        var (before, at) = LostAround(claim, maxRunTimeMs);
        await claim.Renewals.WaitAsync(Wait);

        Assert.False(before);
        Assert.True(at);
        Assert.Contains(30, _log.EventIds);
        Assert.All(_store.RenewAnswers(), ok => Assert.True(ok));
        Assert.False(await claim.CompleteAsync("r"u8.ToArray(), default));
    }

    // ---- 4. Stop/complete races ------------------------------------------------------------------------------------

    public enum Settle
    {
        Complete,
        Release,
        Dispose,
    }

    // PASSING PROBE: the clock reaches the first renewal (the timer fires on one thread: the loop starts, the deadline is
    // armed) while the claim is completed, released or disposed on another, with random skew, 300 times per way. Each time:
    // the record ends completed / released, no lease-lost log (event 5), no renewal starts after the settle began, nothing
    // throws, and DisposeAsync afterwards does not throw.
    [Theory]
    [InlineData(Settle.Complete)]
    [InlineData(Settle.Release)]
    [InlineData(Settle.Dispose)]
    public async Task RedTeam5_SettleRacingTheFirstRenewalTimer_EndsCleanly(Settle settle)
    {
        var random = new Random(5);
        var sawLoop = 0;
        for (var round = 0; round < 300; round++)
        {
            var key = NewKey();
            var owner = "race-" + round;
            // Every other round the clock is held back longer, so the settle also wins before the first renewal.
            var (claim, settled) = await RaceTheFirstRenewalAsync(key, owner, random.Next(0, round % 2 == 0 ? 3000 : 60_000), random.Next(0, 3000), async claim =>
            {
                _store.Mark(owner, "settle");
                switch (settle)
                {
                    case Settle.Complete:
                        return await claim.CompleteAsync("r"u8.ToArray(), default);
                    case Settle.Release:
                        await claim.ReleaseAsync();
                        return true;
                    default:
                        await claim.DisposeAsync();
                        return true;
                }
            });

            Assert.True(settled, $"round {round}: not completed");
            await claim.Renewals.WaitAsync(Wait);
            await claim.DisposeAsync();
            if (_store.RenewalsAfter(owner, "claimed-by-test").Count > 0)
                sawLoop++;

            var next = await _memory.ClaimAsync(key, "next-" + round, "fp", Lease, Retention, default);
            Assert.Equal(settle == Settle.Complete ? ClaimOutcome.Duplicate : ClaimOutcome.Claimed, next.Outcome);
            Assert.False(claim.IsLost, $"round {round}: lost");
            Assert.Empty(_store.RenewalsAfter(owner, settle == Settle.Complete ? "complete-start" : "release"));
        }

        _output.WriteLine($"{sawLoop} of 300 rounds started the renewal loop before the settle stopped it");
        Assert.DoesNotContain(5, _log.EventIds);
        Assert.DoesNotContain(30, _log.EventIds);
    }

    // PASSING PROBE: completed before its first renewal (most claims): the stop is synchronous, the loop never starts,
    // and nothing fires afterwards (no renewal at 1 s, no loss at the 3 s deadline or later).
    [Fact]
    public async Task RedTeam5_CompletedBeforeTheFirstRenewal_NoLoop_NothingFiresLater()
    {
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease });
        MoveClockTo(999);

        var completing = claim.CompleteAsync("r"u8.ToArray(), default);
        var synchronous = completing.IsCompleted; // the in-memory store answers synchronously, and so does the stop
        var completed = await completing;
        foreach (var at in new[] { 1000, 3000, 60_000 })
            MoveClockTo(at);
        await claim.DisposeAsync();

        Assert.True(synchronous);
        Assert.True(completed);
        Assert.True(claim.Renewals.IsCompletedSuccessfully);
        Assert.Equal(0, _store.RenewCount);
        Assert.False(claim.IsLost);
        Assert.Empty(_log.EventIds);
    }

    // PASSING PROBE: the claim is completed while its first renewal is in flight (the store holds the renewal and ignores
    // the stop token, as a Redis command already sent does). The completion waits for it, then completes; no lease-lost
    // log, no further renewal; the renewal answering ok after the stop re-arms nothing.
    [Theory]
    [InlineData(true)] // the in-flight renewal answers ok after the stop
    [InlineData(false)] // it fails as unavailable after the stop
    public async Task RedTeam5_CompleteWhileTheFirstRenewalIsInFlight_CompletesCleanly(bool renewalSucceeds)
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _store.BeforeRenew = (call, _) => call == 1 ? held.Task : Task.CompletedTask;
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease });
        await MoveToTimerAsync(1000);
        await _store.RenewStarted(1).WaitAsync(Wait);

        var completing = claim.CompleteAsync("r"u8.ToArray(), default);
        await Task.Delay(50);
        var waitedForTheRenewal = !completing.IsCompleted;
        if (renewalSucceeds)
            held.SetResult();
        else
            held.SetException(new DedupStoreUnavailableException("Redis did not answer in time (test)"));
        var completed = await completing.WaitAsync(Wait);
        MoveClockTo(10_000); // past every deadline: nothing fires for a settled claim

        Assert.True(waitedForTheRenewal);
        Assert.True(completed);
        Assert.False(claim.IsLost);
        Assert.Equal(1, _store.RenewCount);
        Assert.DoesNotContain(5, _log.EventIds);
        Assert.Equal(ClaimOutcome.Duplicate, (await _memory.ClaimAsync(key, "next", "fp", Lease, Retention, default)).Outcome);
        await claim.DisposeAsync();
    }

    // FINDING (fixed: LeaseMonitor decides a loss under the lock its stop takes, and IsLost reads that decision): the deadline timer decides the lease is lost (MarkLost has set its flag and is logging event 5) but the
    // LeaseLost token is cancelled only at the end of MarkLost, and ActiveClaim.CompleteAsync checks only that token
    // (IsLost => _lost.IsCancellationRequested). A completion that starts in that window stops the monitor (StopAsync
    // does not look at the loss flag), finds IsLost false and WRITES the completion; the token is cancelled afterwards.
    // Result: the claim is both completed (CompleteAsync returned true, record completed) and reported lost (event 5,
    // LeaseLost cancelled after the completion), contrary to README "Once it is cancelled the owner stops renewing and
    // never completes" and promise 4 (no spurious lease-lost log). The logger stands for a thread descheduled between the
    // decision and the cancellation (the window exists since OnDeadline; 6ebacef adds a lock acquisition to it).
    [Fact]
    public async Task RedTeam5_CompleteInTheWindowBetweenTheDeadlineDecisionAndTheCancellation_IsEitherLostOrCompleted()
    {
        _store.BeforeRenew = (_, _) => Task.FromException(new DedupStoreUnavailableException("Redis did not answer in time (test)"));
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease }, storeLease: TimeSpan.FromMinutes(1));
        await MoveToTimerAsync(1000);
        await _store.RenewEnded(1).WaitAsync(Wait);
        await MoveToTimerAsync(2000);
        await _store.RenewEnded(2).WaitAsync(Wait);
        await AsleepUntil(3000);
        var blocked = _log.BlockOn(5);

        var mover = Task.Run(() => MoveClockTo(3000)); // the deadline timer fires on this thread and stops in the log call
        await blocked.WaitAsync(Wait);
        var completed = await claim.CompleteAsync("r"u8.ToArray(), default).WaitAsync(Wait);
        _log.ReleaseAll();
        await mover.WaitAsync(Wait);
        var record = await _memory.ClaimAsync(key, "next", "fp", Lease, Retention, default);

        // Either the completion wins (nothing reported lost) or the loss wins (nothing recorded): never both.
        Assert.False(completed && claim.Claim.LeaseLost.IsCancellationRequested,
            $"completed={completed}, LeaseLost cancelled={claim.Claim.LeaseLost.IsCancellationRequested}, record now answers {record.Outcome}");
    }

    // FINDING (fixed: LeaseMonitor decides a loss under the lock its stop takes, and IsLost reads that decision): the same window at MaxRunTime: OnTimer has passed its "stopped" check and logs event 30 before MarkLost.
    // A completion in that window stops the monitor and records the result; then MarkLost logs "lease lost" (event 5) and
    // cancels LeaseLost for a claim whose completion already succeeded. The deadline branch of OnTimer runs outside the
    // lock and never re-checks _stopped, and the stop never looks at the pending loss.
    [Fact]
    public async Task RedTeam5_CompleteWhileMaxRunTimeFires_IsEitherLostOrCompleted()
    {
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease, MaxRunTime = Lease });
        await MoveToTimerAsync(1000);
        await _store.RenewEnded(1).WaitAsync(Wait);
        await MoveToTimerAsync(2000);
        await _store.RenewEnded(2).WaitAsync(Wait);
        await AsleepUntil(3000);
        var blocked = _log.BlockOn(30);

        var mover = Task.Run(() => MoveClockTo(3000));
        await blocked.WaitAsync(Wait);
        var completed = await claim.CompleteAsync("r"u8.ToArray(), default).WaitAsync(Wait);
        _log.ReleaseAll();
        await mover.WaitAsync(Wait);

        Assert.False(completed && (claim.Claim.LeaseLost.IsCancellationRequested || _log.EventIds.Contains(5)),
            $"completed={completed}, LeaseLost cancelled={claim.Claim.LeaseLost.IsCancellationRequested}, events={string.Join(",", _log.EventIds)}");
    }

    // ---- 5. A loss answered by the very first renewal --------------------------------------------------------------

    // PASSING PROBE: the store's lease was short (1 s); another owner took the key over just before the first renewal.
    // That renewal answers "lost": LeaseLost at once (the work's token too), nothing is completed, the new owner keeps
    // the key (the cut is fenced), the loss is logged once.
    [Fact]
    public async Task RedTeam5_AnotherOwnerTookTheKeyBeforeTheFirstRenewal_LossReported_NothingCompleted()
    {
        var key = NewKey();
        var claim = await OwnAsync(key, new DedupOptions { Lease = Lease }, storeLease: TimeSpan.FromMilliseconds(900));
        using var work = CancellationTokenSource.CreateLinkedTokenSource(claim.Claim.LeaseLost);
        MoveClockTo(950);
        var thief = await _memory.ClaimAsync(key, "thief", "fp", Lease, Retention, default);
        Assert.Equal(ClaimOutcome.TakenOver, thief.Outcome);

        await MoveToTimerAsync(1000);
        await _store.RenewEnded(1).WaitAsync(Wait);
        await claim.Renewals.WaitAsync(Wait);

        Assert.True(claim.IsLost);
        Assert.True(work.IsCancellationRequested);
        Assert.False(await claim.CompleteAsync("r"u8.ToArray(), default));
        Assert.Equal(ClaimOutcome.Busy, (await _memory.ClaimAsync(key, "third", "fp", Lease, Retention, default)).Outcome);
        Assert.True(await _memory.CompleteAsync(key, "thief", thief.Epoch, "t"u8.ToArray(), Retention, default));
        Assert.Equal(1, _log.EventIds.Count(id => id == 5));
        Assert.Equal(2, _store.RenewCount); // the renewal that answered lost, and the (fenced, refused) cut
    }

    // PASSING PROBE: the first renewal answers "lost" at the same moment the claim is completed on another thread (300
    // rounds, random skew). Whichever wins, the outcome is consistent: either completed (and not lost) or lost (and not
    // completed, the other owner's record untouched), never an exception or a hang.
    [Fact]
    public async Task RedTeam5_FirstRenewalAnswersLostWhileCompleting_IsEitherLostOrCompleted()
    {
        var random = new Random(55);
        _store.RenewAnswer = _ => false; // every renewal: another owner has the key (as far as this owner can tell)
        for (var round = 0; round < 300; round++)
        {
            var (claim, completed) = await RaceTheFirstRenewalAsync(NewKey(), "lost-" + round, random.Next(0, 3000), random.Next(0, 3000),
                claim => claim.CompleteAsync("r"u8.ToArray(), default));
            await claim.Renewals.WaitAsync(Wait);
            var lost = claim.Claim.LeaseLost.IsCancellationRequested;
            await claim.DisposeAsync();

            Assert.True(completed != lost, $"round {round}: completed={completed}, lost={lost}");
        }
    }

    // ---- 6. Owner tokens -------------------------------------------------------------------------------------------

    // PASSING PROBE: across the counter's sign boundary (int.MaxValue -> int.MinValue) and its wrap to zero tokens stay
    // distinct and 16 base64url characters. (The counter is moved forward only, so no token already handed out in this
    // process can come again.)
    [Fact]
    public void RedTeam5_OwnerTokens_AcrossTheCounterBoundaries_StayDistinct()
    {
        var counter = typeof(DedupKey).GetField("_ownerCounter", BindingFlags.NonPublic | BindingFlags.Static)!;
        var tokens = new List<string>();
        counter.SetValue(null, int.MaxValue - 3); // forward: the initial value is below int.MaxValue
        for (var i = 0; i < 8; i++)
            tokens.Add(DedupKey.NewOwnerToken());

        Assert.Equal(tokens.Count, tokens.Distinct().Count());
        Assert.All(tokens, t => Assert.Matches("^[A-Za-z0-9_-]{16}$", t));
        Assert.All(tokens, t => Assert.Equal(tokens[0][..10], t[..10])); // one process: one nonce prefix
    }

    // PASSING PROBE: a claim whose reply is lost after the store applied it is retried with the same owner token and is
    // recognised: the same epoch comes back (claimed), the claim renews and completes; for a takeover the retry still
    // answers "taken over" with the previous epoch, so the takeover check is not skipped.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RedTeam5_ClaimReplyLost_RetryWithTheSameOwnerToken_IsRecognised(bool takeover)
    {
        var key = NewKey();
        long previous = 0;
        if (takeover)
        {
            previous = (await _memory.ClaimAsync(key, "crashed", "fp", TimeSpan.FromMilliseconds(500), Retention, default)).Epoch;
            MoveClockTo(600);
        }

        _store.ClaimReplyLost = call => call == 1;
        var coordinator = new ClaimCoordinator(_store, Options.Create(new DedupOptions { Lease = Lease }), _metrics, _clock, NullLogger<ClaimCoordinator>.Instance);
        var acquiring = coordinator.AcquireAsync(key, "fp", default);
        var start = (int)(_clock.GetUtcNow() - _clock.Start).TotalMilliseconds;
        await MoveToTimerAsync(start + 50); // the retry, 50 ms later
        var acquisition = await acquiring.WaitAsync(Wait);
        var claim = Track(acquisition.Claim!);
        await MoveToTimerAsync(start + 1050);
        await _store.RenewEnded(1).WaitAsync(Wait);

        var applied = _store.ClaimOwners();
        Assert.Equal(2, applied.Count);
        Assert.Equal(applied[0], applied[1]); // the same owner token both times
        Assert.Equal(takeover ? ClaimOutcome.TakenOver : ClaimOutcome.Claimed, acquisition.Result.Outcome);
        Assert.Equal(previous, acquisition.Result.PreviousEpoch);
        Assert.True(_store.RenewAnswers().Single());
        Assert.True(await claim.CompleteAsync("r"u8.ToArray(), default));
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    static string NewKey() => DedupKey.ForMessageId("rt5:", DedupKey.Scope("rt5"), Guid.NewGuid());

    async Task<ActiveClaim> OwnAsync(string key, DedupOptions options, TimeSpan? storeLease = null)
    {
        var owner = DedupKey.NewOwnerToken();
        var started = _clock.GetTimestamp();
        var claimed = await _memory.ClaimAsync(key, owner, "fp", storeLease ?? options.Lease, Retention, default);
        Assert.True(claimed.IsOwner);
        return Track(new ActiveClaim(_store, options, _clock, _log, key, owner, claimed.Epoch, takenOver: false, started).Start());
    }

    ActiveClaim Track(ActiveClaim claim)
    {
        _claims.Add(claim);
        return claim;
    }

    /// <summary>
    /// Claims <paramref name="key"/> for <paramref name="owner"/> now and starts its monitor; then, from two threads let go
    /// together (each after its own spin), moves the clock to the first renewal and runs <paramref name="settle"/>.
    /// </summary>
    async Task<(ActiveClaim Claim, bool Settled)> RaceTheFirstRenewalAsync(string key, string owner, int moverSpin, int settleSpin, Func<ActiveClaim, Task<bool>> settle)
    {
        var claimed = await _memory.ClaimAsync(key, owner, "fp", Lease, Retention, default);
        _store.Mark(owner, "claimed-by-test");
        var claim = new ActiveClaim(_store, new DedupOptions { Lease = Lease }, _clock, _log, key, owner, claimed.Epoch, takenOver: false, _clock.GetTimestamp()).Start();
        var firstRenewal = _clock.GetUtcNow() + TimeSpan.FromSeconds(1);
        using var go = new Barrier(2);
        var mover = Task.Run(() =>
        {
            go.SignalAndWait();
            Thread.SpinWait(moverSpin);
            _clock.SetUtcNow(firstRenewal);
        });
        var settling = Task.Run(async () =>
        {
            go.SignalAndWait();
            Thread.SpinWait(settleSpin);
            return await settle(claim);
        });

        await mover.WaitAsync(Wait);
        return (claim, await settling.WaitAsync(Wait));
    }

    Task AsleepUntil(int milliseconds) => _clock.ArmedFor(_clock.Start + Ms(milliseconds), Wait);

    void MoveClockTo(int milliseconds) => _clock.SetUtcNow(_clock.Start + Ms(milliseconds));

    async Task MoveToTimerAsync(int milliseconds)
    {
        await AsleepUntil(milliseconds);
        MoveClockTo(milliseconds);
    }

    (bool Before, bool At) LostAround(ActiveClaim claim, int milliseconds)
    {
        MoveClockTo(milliseconds - 1);
        var before = claim.Claim.LeaseLost.IsCancellationRequested;
        MoveClockTo(milliseconds);
        return (before, claim.Claim.LeaseLost.IsCancellationRequested);
    }

    static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}

/// <summary>
/// A store decorator for red team 5: records every call in order (with the owner and the answer), can hold or fail
/// renewals (<see cref="BeforeRenew"/>), answer them itself (<see cref="RenewAnswer"/>), and lose a claim's reply after
/// the store applied it (<see cref="ClaimReplyLost"/>).
/// </summary>
internal sealed class ProbeStore(IDedupStore inner) : IDedupStore
{
    readonly Lock _lock = new();
    readonly List<(string Op, string Owner, bool? Answer)> _calls = [];
    readonly ConcurrentDictionary<(string, int), TaskCompletionSource> _signals = new();
    int _renewCalls;
    int _renewEnds;
    int _claimCalls;

    /// <summary>Runs before the given renewal (1-based) reaches the store: may wait, ignore or honour the token, or fail.</summary>
    public Func<int, CancellationToken, Task>? BeforeRenew { get; set; }

    /// <summary>When set, the given renewal's answer instead of the store's (the store is not called).</summary>
    public Func<int, bool>? RenewAnswer { get; set; }

    /// <summary>Whether the given claim call (1-based) loses its reply after the store applied it.</summary>
    public Func<int, bool> ClaimReplyLost { get; set; } = _ => false;

    public int RenewCount => Volatile.Read(ref _renewCalls);

    /// <summary>Every renewal that ended: its owner, lease (1 ms: a cut), when it started (Stopwatch timestamp), its answer (null: it threw).</summary>
    public ConcurrentQueue<(string Owner, TimeSpan Lease, long Started, bool? Answer)> RenewLog { get; } = new();

    public Task RenewStarted(int call) => Signal("renew-start", call).Task;

    public Task RenewEnded(int call) => Signal("renew-end", call).Task;

    public void Mark(string owner, string what) => Record(what, owner, null);

    public IReadOnlyList<bool> RenewAnswers()
    {
        lock (_lock)
            return [.. _calls.Where(c => c.Op == "renew-end" && c.Answer is not null).Select(c => c.Answer!.Value)];
    }

    public IReadOnlyList<string> ClaimOwners()
    {
        lock (_lock)
            return [.. _calls.Where(c => c.Op == "claim").Select(c => c.Owner)];
    }

    /// <summary>Renewals of <paramref name="owner"/> that started after its <paramref name="mark"/>.</summary>
    public IReadOnlyList<int> RenewalsAfter(string owner, string mark)
    {
        lock (_lock)
        {
            var at = _calls.FindIndex(c => c.Op == mark && c.Owner == owner);
            if (at < 0)
                return [];
            return [.. Enumerable.Range(at, _calls.Count - at).Where(i => _calls[i].Op == "renew-start" && _calls[i].Owner == owner)];
        }
    }

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _claimCalls);
        var result = await inner.ClaimAsync(key, owner, fingerprint, lease, retention, cancellationToken);
        Record("claim", owner, result.IsOwner);
        if (ClaimReplyLost(call))
            throw new DedupStoreUnavailableException("the claim's reply was lost (test)");
        return result;
    }

    public async ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _renewCalls);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        Record("renew-start", owner, null);
        Signal("renew-start", call).TrySetResult();
        bool? answer = null;
        try
        {
            if (BeforeRenew is { } before)
                await before(call, cancellationToken);
            answer = RenewAnswer is { } scripted ? scripted(call) : await inner.RenewAsync(key, owner, epoch, lease, cancellationToken);
            return answer.Value;
        }
        finally
        {
            Record("renew-end", owner, answer);
            RenewLog.Enqueue((owner, lease, started, answer));
            Signal("renew-end", Interlocked.Increment(ref _renewEnds)).TrySetResult();
        }
    }

    public async ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken)
    {
        Record("complete-start", owner, null);
        var ok = await inner.CompleteAsync(key, owner, epoch, result, retention, cancellationToken);
        Record("complete-end", owner, ok);
        return ok;
    }

    public async ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken)
    {
        var ok = await inner.ReleaseAsync(key, owner, epoch, cancellationToken);
        Record("release", owner, ok);
        return ok;
    }

    public KeyWatch Watch(string key) => inner.Watch(key);

    void Record(string op, string owner, bool? answer)
    {
        lock (_lock)
            _calls.Add((op, owner, answer));
    }

    TaskCompletionSource Signal(string op, int call) =>
        _signals.GetOrAdd((op, call), _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}

/// <summary>Keeps event ids; can hold the thread that logs a given event until released (a descheduled thread).</summary>
internal sealed class RecordingLogger : ILogger<ClaimCoordinator>
{
    readonly Lock _lock = new();
    readonly List<int> _eventIds = [];
    readonly ManualResetEventSlim _release = new(true);
    int _blockOn = -1;
    TaskCompletionSource _blocked = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyList<int> EventIds
    {
        get
        {
            lock (_lock)
                return [.. _eventIds];
        }
    }

    /// <summary>The next log of <paramref name="eventId"/> holds its thread until <see cref="ReleaseAll"/>; completes when it does.</summary>
    public Task BlockOn(int eventId)
    {
        _blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _release.Reset();
        Volatile.Write(ref _blockOn, eventId);
        return _blocked.Task;
    }

    public void ReleaseAll()
    {
        Volatile.Write(ref _blockOn, -1);
        _release.Set();
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lock)
            _eventIds.Add(eventId.Id);
        if (Interlocked.CompareExchange(ref _blockOn, -1, eventId.Id) == eventId.Id)
        {
            _blocked.TrySetResult();
            _release.Wait(TimeSpan.FromSeconds(30));
        }
    }
}
