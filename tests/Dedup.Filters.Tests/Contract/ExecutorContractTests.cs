using Dedup.Execution;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Contract;

/// <summary>The seed's <c>execute(id, func)</c> done right, against every store; includes the seed-bug tests.</summary>
public abstract class ExecutorContractTests
{
    /// <summary>Registers the store under test.</summary>
    protected abstract void AddStore(IServiceCollection services);

    /// <summary>Removes a key behind the protocol's back (an operator's DEL).</summary>
    protected abstract Task RemoveKeyAsync(string key);

    private protected (IDedupExecutor Executor, ObservedStore Store, ServiceProvider Provider) Build(Action<DedupOptions>? configure = null,
        Func<IDedupStore, IDedupStore>? wrap = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDedup(o =>
        {
            o.KeyPrefix = "exec-" + Guid.NewGuid().ToString("N")[..8] + ":";
            configure?.Invoke(o);
        });
        AddStore(services);
        var provider = services.BuildServiceProvider();
        var inner = provider.GetRequiredService<IDedupStore>();
        var store = new ObservedStore(wrap is null ? inner : wrap(inner));
        var coordinator = ActivatorUtilities.CreateInstance<ClaimCoordinator>(provider, store);
        return (ActivatorUtilities.CreateInstance<DedupExecutor>(provider, coordinator), store, provider);
    }

    static long Fib(int n) => n < 2 ? n : Fib(n - 1) + Fib(n - 2);

    [Fact]
    public async Task Execute_SameKeyTwice_RunsOnceAndReturnsTheStoredResult()
    {
        var (executor, _, provider) = Build();
        await using var _ = provider;
        var runs = 0;

        var first = await executor.ExecuteAsync("fibonacci:10", _ => { runs++; return Task.FromResult(Fib(10)); });
        var second = await executor.ExecuteAsync("fibonacci:10", _ => { runs++; return Task.FromResult(-1L); });

        Assert.Equal(55, first);
        Assert.Equal(55, second);
        Assert.Equal(1, runs);
    }

    // Seed bug 2: the seed checks for the result outside the lock and not again after acquiring it, so a caller
    // that waited on the lock runs the work a second time.
    [Fact]
    public async Task Execute_TwentyConcurrentCallers_RunTheWorkOnceAndAllGetItsResult()
    {
        var (executor, store, provider) = Build(o => o.InFlightWait = TimeSpan.FromSeconds(30));
        await using var _ = provider;
        var runs = 0;
        var waitersRegistered = store.WatchesRegistered(19);

        var calls = Enumerable.Range(0, 20).Select(_ => Task.Run(() => executor.ExecuteAsync("report:1", async _ =>
        {
            Interlocked.Increment(ref runs);
            await waitersRegistered; // hold the claim until every other caller is waiting on it
            return "done";
        }))).ToArray();
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, runs);
        Assert.All(results, r => Assert.Equal("done", r));
    }

    [Fact]
    public async Task Execute_WaitingCaller_IsWokenByTheCompletionNotByTheLease()
    {
        var (executor, store, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromMinutes(2);
            o.InFlightWait = TimeSpan.FromMinutes(1);
        });
        await using var _ = provider;
        var (started, release) = (new TaskCompletionSource(), new TaskCompletionSource());
        var first = executor.ExecuteAsync("slow:1", async _ => { started.SetResult(); await release.Task; return 1; });
        await started.Task; // the first owns the key before the second claims (both wait for the new store's subscription)
        var waiting = store.WatchesRegistered(1);
        var second = Task.Run(() => executor.ExecuteAsync("slow:1", _ => Task.FromResult(2)));
        await waiting;

        release.SetResult();

        // Without the notification the waiter would sleep until its minute-long wait ran out.
        Assert.Equal(1, await second.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, await first);
    }

    [Fact]
    public async Task Execute_WorkThrows_ReleasesSoTheNextCallRunsIt()
    {
        var (executor, _, provider) = Build();
        await using var _ = provider;

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            executor.ExecuteAsync<int>("flaky:1", _ => throw new InvalidOperationException("boom")));
        var result = await executor.ExecuteAsync("flaky:1", _ => Task.FromResult(7));

        Assert.Equal(7, result);
    }

    // Seed bug 3: the seed's lock TTL is never renewed, so work longer than it runs twice concurrently.
    [Fact]
    public async Task Execute_WorkLongerThanTheLease_KeepsItsClaimAndRunsOnce()
    {
        var (executor, store, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(2); // renewed every 0.67 s: rides out a loaded machine's scheduling stalls
            o.InFlightWait = TimeSpan.FromSeconds(20);
        });
        await using var _ = provider;
        var runs = 0;
        var started = new TaskCompletionSource();

        var first = executor.ExecuteAsync("long:1", async token =>
        {
            Interlocked.Increment(ref runs);
            started.SetResult();
            await Task.Delay(TimeSpan.FromMilliseconds(5000), token); // two and a half leases long
            return "first";
        });
        await started.Task;
        await Task.Delay(TimeSpan.FromMilliseconds(3000)); // an unrenewed lease would have expired by now
        var second = await executor.ExecuteAsync("long:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult("second"); });

        Assert.Equal("first", await first);
        Assert.Equal("first", second);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Execute_KeyRemovedWhileRunning_CancelsTheWorkAndThrowsLeaseLost()
    {
        var (executor, _, provider) = Build(o => o.Lease = TimeSpan.FromMilliseconds(300));
        await using var _ = provider;
        var started = new TaskCompletionSource<DedupClaim>();
        var cancelled = false;

        var run = executor.ExecuteAsync("lost:1", async (claim, token) =>
        {
            started.SetResult(claim);
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
                throw;
            }

            return 0;
        });
        var claim = await started.Task;
        await RemoveKeyAsync(claim.Key);

        var exception = await Assert.ThrowsAsync<DedupLeaseLostException>(() => run.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(cancelled);
        Assert.True(claim.LeaseLost.IsCancellationRequested);
        Assert.Equal(claim.Key, exception.Key);
    }

    [Fact]
    public async Task Execute_InFlightWaitRunsOut_ThrowsInFlightTimeout()
    {
        var (executor, _, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.FromMilliseconds(300);
        });
        await using var _ = provider;
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var first = executor.ExecuteAsync("busy:1", async _ => { started.SetResult(); await release.Task; return 1; });
        await started.Task;

        await Assert.ThrowsAsync<DedupInFlightTimeoutException>(() => executor.ExecuteAsync("busy:1", _ => Task.FromResult(2)));

        release.SetResult();
        Assert.Equal(1, await first);
    }

    [Fact]
    public async Task Execute_RedeliverPolicy_DoesNotWait()
    {
        var (executor, store, provider) = Build(o =>
        {
            o.InFlight = InFlightPolicy.Redeliver;
            o.InFlightWait = TimeSpan.FromMinutes(1);
        });
        await using var _ = provider;
        var release = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        var first = executor.ExecuteAsync("busy:2", async _ => { started.SetResult(); await release.Task; return 1; });
        await started.Task;

        await Assert.ThrowsAsync<DedupInFlightTimeoutException>(() => executor.ExecuteAsync("busy:2", _ => Task.FromResult(2)).WaitAsync(TimeSpan.FromSeconds(10)));

        release.SetResult();
        await first;
    }

    [Fact]
    public async Task Execute_SameKeyWithOtherFingerprint_ThrowsConflict()
    {
        var (executor, _, provider) = Build();
        await using var _ = provider;
        await executor.ExecuteAsync("pay:1", (_, _) => Task.FromResult(1), fingerprint: "amount=10");

        var conflict = await Assert.ThrowsAsync<DedupConflictException>(() =>
            executor.ExecuteAsync("pay:1", (_, _) => Task.FromResult(2), fingerprint: "amount=99"));

        Assert.Equal("amount=10", conflict.StoredFingerprint);
    }

    [Fact]
    public async Task Execute_Retry_GetsAHigherEpochThanTheFailedAttempt()
    {
        var (executor, _, provider) = Build();
        await using var _ = provider;
        long firstEpoch = 0;

        await Assert.ThrowsAsync<InvalidOperationException>(() => executor.ExecuteAsync<int>("epoch:1", (claim, _) =>
        {
            firstEpoch = claim.Epoch;
            throw new InvalidOperationException("boom");
        }));
        var secondEpoch = await executor.ExecuteAsync("epoch:1", (claim, _) => Task.FromResult(claim.Epoch));

        Assert.True(secondEpoch > firstEpoch, $"epoch {secondEpoch} after {firstEpoch}");
    }

    // Issue 9 A: the caller's token cancelled after the work returned must not throw the result away. Before the fix
    // nothing was recorded and nothing released, so the next caller waited a whole lease and ran the work again.
    [Fact]
    public async Task Execute_CallerCancelledAfterTheWorkReturned_RecordsTheResult()
    {
        var (executor, _, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.Zero; // a key left in progress answers DedupInFlightTimeoutException at once
        });
        await using var _ = provider;
        using var caller = new CancellationTokenSource();
        var runs = 0;

        var first = await executor.ExecuteAsync("cancelled-after:1", async _ =>
        {
            Interlocked.Increment(ref runs);
            await caller.CancelAsync(); // the caller gives up just as the work finishes
            return 42;
        }, caller.Token);
        var second = await executor.ExecuteAsync("cancelled-after:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(-1); });

        Assert.Equal(42, first);
        Assert.Equal(42, second);
        Assert.Equal(1, runs);
    }

    // Issue 9 A: a caller cancelled between its claim and the start of the work must give the key back, not leave it
    // to the lease (30 s here), and must not start the work.
    [Fact]
    public async Task Execute_CallerCancelledAfterTheClaimBeforeTheWork_ReleasesTheKeyAndDoesNotRunTheWork()
    {
        using var caller = new CancellationTokenSource();
        var (executor, _, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.Zero;
        }, inner => new ClaimHookStore(inner, async (result, _) =>
        {
            if (result.IsOwner)
                await caller.CancelAsync(); // cancelled as the claim's reply arrives
        }));
        await using var _ = provider;
        var runs = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            executor.ExecuteAsync("cancelled-before-work:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(1); }, caller.Token));
        var second = await executor.ExecuteAsync("cancelled-before-work:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(2); });

        Assert.Equal(2, second);
        Assert.Equal(1, runs);
    }

    // Issue 9 A: a token cancelled before the call claims nothing. (The Redis store sends its script before it looks
    // at the token, so before the fix the key stayed claimed by an owner nobody knew until the lease ran out.)
    [Fact]
    public async Task Execute_CallerAlreadyCancelled_LeavesTheKeyFree()
    {
        var (executor, _, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.Zero;
        });
        await using var _ = provider;
        var runs = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            executor.ExecuteAsync("cancelled-early:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(1); }, new CancellationToken(true)));
        var second = await executor.ExecuteAsync("cancelled-early:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(2); });

        Assert.Equal(2, second);
        Assert.Equal(1, runs);
    }

    // Issue 9 A: the claim reached the store but the caller cancelled before its reply arrived (a Redis script runs
    // once sent); the owner token that could release it is inside ClaimCoordinator.AcquireAsync.
    [Fact]
    public async Task Execute_CallerCancelledWhileTheClaimWasInFlight_ReleasesTheClaim()
    {
        using var caller = new CancellationTokenSource();
        var (executor, _, provider) = Build(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.Zero;
        }, inner => new ClaimHookStore(inner, async (_, token) =>
        {
            await caller.CancelAsync();
            token.ThrowIfCancellationRequested(); // the reply is lost to the cancelled caller
        }));
        await using var _ = provider;
        var runs = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            executor.ExecuteAsync("cancelled-in-flight:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(1); }, caller.Token));
        var second = await executor.ExecuteAsync("cancelled-in-flight:1", _ => { Interlocked.Increment(ref runs); return Task.FromResult(2); });

        Assert.Equal(2, second);
        Assert.Equal(1, runs);
    }

    // Issue 10: a caller "killed" after its work and before recording it leaves a claim whose lease runs out; the next
    // caller takes it over and asks the takeover check first.
    async Task<(IDedupExecutor Executor, CrashingStore Crash, ServiceProvider Provider, string Key)> RunAndCrashAsync(int result)
    {
        CrashingStore? crash = null;
        var (executor, _, provider) = Build(o => o.Lease = TimeSpan.FromMilliseconds(300), inner => crash = new CrashingStore(inner));
        var key = "order:" + Guid.NewGuid();
        crash!.Crashing = true;
        Assert.Equal(result, await executor.ExecuteAsync(key, _ => Task.FromResult(result)));
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        return (executor, crash, provider, key);
    }

    [Fact]
    public async Task Execute_Takeover_CheckFindsTheWorkApplied_ReturnsItsResultWithoutRunning_AndRecordsIt()
    {
        var (executor, crash, provider, key) = await RunAndCrashAsync(41);
        await using var _ = provider;
        var runs = 0;
        DedupTakeover? asked = null;

        var recovered = await executor.ExecuteAsync(key, (_, _) => { runs++; return Task.FromResult(-1); },
            (takeover, _) => { asked = takeover; return Task.FromResult(TakeoverVerdict.Applied(41)); });
        var later = await executor.ExecuteAsync(key, _ => { runs++; return Task.FromResult(-2); });

        Assert.Equal(41, recovered);
        Assert.Equal(41, later);
        Assert.Equal(0, runs);
        Assert.NotNull(asked);
        Assert.Equal(crash.CrashedEpochs[0], asked.PreviousEpoch);
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.TakenOver, ClaimOutcome.Duplicate], crash.Outcomes);
    }

    [Fact]
    public async Task Execute_Takeover_CheckSaysNotApplied_RunsTheWork()
    {
        var (executor, _, provider, key) = await RunAndCrashAsync(7);
        await using var _ = provider;

        var value = await executor.ExecuteAsync(key, (claim, _) => Task.FromResult(claim.TakenOver ? 8 : -1),
            (_, _) => Task.FromResult(TakeoverVerdict.NotApplied));

        Assert.Equal(8, value);
    }

    [Fact]
    public async Task Execute_Takeover_CheckThrowsOrAnswersTheWrongType_NothingRuns_AndTheNextCallAsksAgain()
    {
        var (executor, crash, provider, key) = await RunAndCrashAsync(5);
        await using var _ = provider;
        var runs = 0;

        var threw = await Assert.ThrowsAsync<DedupTakeoverCheckException>(() => executor.ExecuteAsync(key, (_, _) => { runs++; return Task.FromResult(-1); },
            (_, _) => throw new TimeoutException("ledger unreachable (test)")));
        var wrongType = await Assert.ThrowsAsync<DedupTakeoverCheckException>(() => executor.ExecuteAsync(key, (_, _) => { runs++; return Task.FromResult(-1); },
            (_, _) => Task.FromResult(TakeoverVerdict.Applied("five"))));
        var recovered = await executor.ExecuteAsync(key, (_, _) => { runs++; return Task.FromResult(-1); },
            (_, _) => Task.FromResult(TakeoverVerdict.Applied(5)));

        Assert.IsType<TimeoutException>(threw.InnerException);
        Assert.IsType<InvalidOperationException>(wrongType.InnerException);
        Assert.Equal(5, recovered);
        Assert.Equal(0, runs);
        // An abandoned claim's lease is cut to a millisecond: a call right after it may meet it busy for that long.
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.TakenOver, ClaimOutcome.TakenOver, ClaimOutcome.TakenOver], crash.Outcomes.Where(o => o != ClaimOutcome.Busy));
    }

    /// <summary>
    /// Claims in the store whatever the caller's token (as a Redis script does once sent), then runs a hook with the
    /// caller's token before the reply reaches the caller: a cancellation arriving while the claim was in flight.
    /// </summary>
    sealed class ClaimHookStore(IDedupStore inner, Func<ClaimResult, CancellationToken, Task> afterClaim) : IDedupStore
    {
        public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
        {
            var result = await inner.ClaimAsync(key, owner, fingerprint, lease, retention, CancellationToken.None);
            await afterClaim(result, cancellationToken);
            return result;
        }

        public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken) =>
            inner.RenewAsync(key, owner, epoch, lease, cancellationToken);

        public ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken) =>
            inner.CompleteAsync(key, owner, epoch, result, retention, cancellationToken);

        public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
            inner.ReleaseAsync(key, owner, epoch, cancellationToken);

        public KeyWatch Watch(string key) => inner.Watch(key);
    }
}
