using Dedup.Execution;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team, README "Closing the crash window: takeover verification", through the executor
/// (<c>ExecuteAsync(key, work, verifyTakeover)</c>), in-memory store. A caller "killed" after its work and before
/// recording it (<see cref="CrashingStore"/>) leaves a claim whose lease runs out; every later caller must then meet a
/// takeover and ask the check until the key is settled.
/// </summary>
public sealed class TakeoverRedTeamExecutorTests
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(600); // renewed every 200 ms: a loaded 2-core host delayed renewals past 300 ms

    static (IDedupExecutor Executor, CrashingStore Crash, ServiceProvider Provider) Build(Action<DedupOptions>? configure = null,
        Func<CrashingStore, IDedupStore>? wrap = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDedup(o =>
        {
            o.KeyPrefix = "rt-exec-" + Guid.NewGuid().ToString("N")[..8] + ":";
            o.Lease = Lease;
            configure?.Invoke(o);
        });
        services.AddDedupInMemoryStore();
        var provider = services.BuildServiceProvider();
        var crash = new CrashingStore(provider.GetRequiredService<IDedupStore>());
        var coordinator = ActivatorUtilities.CreateInstance<ClaimCoordinator>(provider, wrap is null ? crash : wrap(crash));
        return (ActivatorUtilities.CreateInstance<DedupExecutor>(provider, coordinator), crash, provider);
    }

    /// <summary>The first caller's work ran (its side effect counted in <paramref name="applied"/>), then it "died" before recording it.</summary>
    static async Task<string> RunAndCrashAsync(IDedupExecutor executor, CrashingStore crash, Counter applied)
    {
        var key = "payment:" + Guid.NewGuid();
        crash.Crashing = true;
        await executor.ExecuteAsync(key, _ => { applied.Increment(); return Task.FromResult(5); });
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        return key;
    }

    // Red team, broken before the fix (README "Closing the crash window" + "What each failure leads to": "process crashes after the side
    // effect, before complete → the next copy takes the claim over; with a takeover check ... the check is asked first";
    // "the check throws, or is cancelled → the claim is abandoned (not released), so the next copy is a takeover too and
    // asks the check again").
    // A caller cancelled as its claim's reply arrives (DedupExecutor.RunAsync: "Cancelled between the claim and the work:
    // give the key back now") RELEASES a claim that was a TAKEOVER, before the check was asked. Release drops 'k' and
    // makes the key absent, so the next caller claims it afresh (Claimed, not TakenOver), the check is never asked and the
    // crashed owner's work runs a second time.
    [Fact]
    public async Task CancelledAsTheTakeoverClaimArrives_TheNextCallerIsStillATakeover_AndTheCheckIsAsked()
    {
        var caller = new CancellationTokenSource();
        var armed = false;
        var (executor, crash, provider) = Build(wrap: crash => new HookStore(crash)
        {
            AfterClaim = async (result, _) =>
            {
                if (armed && result.Outcome == ClaimOutcome.TakenOver)
                    await caller.CancelAsync(); // the caller gives up (shutdown, HTTP request aborted) as the reply arrives
            },
        });
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;

        armed = true;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); }, cancellationToken: caller.Token));
        armed = false;
        var value = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-2); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); });

        Assert.Equal(1, applied.Value); // the crashed owner's effect only
        Assert.Equal(5, value);
        Assert.Equal(1, asked);
    }

    // Red team, broken before the fix (same rows): a caller cancelled WHILE its takeover claim is in flight (the store got it, the reply is
    // lost to the cancelled caller). ClaimCoordinator.ReleaseOrphanAsync re-claims with the same owner token (answered
    // TakenOver, the retried-takeover path of the README) and then RELEASES it: the takeover evidence ('k', the
    // in-progress record) is gone, the next caller claims afresh and runs the work without asking the check.
    [Fact]
    public async Task CancelledWhileTheTakeoverClaimIsInFlight_TheNextCallerIsStillATakeover_AndTheCheckIsAsked()
    {
        var caller = new CancellationTokenSource();
        var armed = false;
        var (executor, crash, provider) = Build(wrap: crash => new HookStore(crash)
        {
            AfterClaim = async (result, token) =>
            {
                if (!armed || result.Outcome != ClaimOutcome.TakenOver)
                    return;
                armed = false;
                await caller.CancelAsync();
                token.ThrowIfCancellationRequested(); // the reply is lost to the cancelled caller
            },
        });
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;

        armed = true;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); }, cancellationToken: caller.Token));
        var value = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-2); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); });

        Assert.Equal(1, applied.Value);
        Assert.Equal(5, value);
        Assert.Equal(1, asked);
    }

    // Red team, broken before the fix (README: the check "runs under the new claim, whose lease is renewed while it runs"; "the check throws,
    // or is cancelled → abandoned (lease cut to 1 ms, NOT released), so the next copy is a takeover too and asks again").
    // A check that outlives the claim (here MaxRunTime; equally a Redis blip that stops renewals past the local deadline)
    // has its token cancelled; when it still answers Applied, ActiveClaim.CompleteAsync sees the claim lost and RELEASES
    // the key. The caller gets DedupLeaseLostException (fine), but the key is now absent: the next caller claims it
    // afresh, the check is skipped, and work the check had just found applied runs again.
    [Fact]
    public async Task CheckOutlivesItsLease_AndAnswersApplied_TheNextCallerIsStillATakeover_AndDoesNotRunTheWork()
    {
        var (executor, crash, provider) = Build(o => o.MaxRunTime = Lease);
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;

        await Assert.ThrowsAsync<DedupLeaseLostException>(() => executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            async (_, _) =>
            {
                Interlocked.Increment(ref asked);
                await Task.Delay(Lease * 2, CancellationToken.None); // a slow ledger query that does not observe the token
                return TakeoverVerdict.Applied(5);
            }));
        await Task.Delay(TimeSpan.FromMilliseconds(50));
        var value = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-2); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); });

        Assert.Equal(1, applied.Value);
        Assert.Equal(5, value);
        Assert.Equal(2, asked);
    }

    // PASSING PROBE: a check that honours its token when the claim is lost during it (MaxRunTime) is abandoned, and the
    // next caller is a takeover that asks again.
    [Fact]
    public async Task CheckOutlivesItsLease_AndHonoursTheToken_TheNextCallerAsksAgain()
    {
        var (executor, crash, provider) = Build(o => o.MaxRunTime = Lease);
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;

        await Assert.ThrowsAsync<DedupTakeoverCheckException>(() => executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            async (_, token) =>
            {
                Interlocked.Increment(ref asked);
                await Task.Delay(Lease * 3, token);
                return TakeoverVerdict.Applied(5);
            }));
        await Task.Delay(TimeSpan.FromMilliseconds(50));
        var value = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-2); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); });

        Assert.Equal(1, applied.Value);
        Assert.Equal(5, value);
        Assert.Equal(2, asked);
    }

    // PASSING PROBE: a check slower than the lease (but within MaxRunTime) keeps its claim: the lease is renewed while it
    // runs, so a concurrent caller waits (busy) instead of taking the key over, and gets the recovered result.
    [Fact]
    public async Task CheckSlowerThanTheLease_KeepsTheClaim_AConcurrentCallerGetsTheRecoveredResult()
    {
        var (executor, crash, provider) = Build(o => o.InFlightWait = TimeSpan.FromSeconds(5));
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;
        var checking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var first = executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            async (_, token) =>
            {
                Interlocked.Increment(ref asked);
                checking.TrySetResult();
                await Task.Delay(Lease * 3, token);
                return TakeoverVerdict.Applied(5);
            });
        await checking.Task;
        var second = executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-2); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(6)); });

        Assert.Equal(5, await first);
        Assert.Equal(5, await second);
        Assert.Equal(1, applied.Value);
        Assert.Equal(1, asked);
    }

    // PASSING PROBE: a claim whose reply is lost (transient store failure) is retried with the same owner token; the
    // retried takeover still asks the check (README, "a retried takeover still asks the takeover check").
    [Fact]
    public async Task TakeoverClaimReplyLost_TheRetryStillAsksTheCheck()
    {
        var armed = false;
        var (executor, crash, provider) = Build(wrap: crash => new HookStore(crash)
        {
            AfterClaim = (result, _) =>
            {
                if (armed && result.Outcome == ClaimOutcome.TakenOver)
                {
                    armed = false;
                    throw new DedupStoreUnavailableException("reply lost (test)", new TimeoutException());
                }

                return Task.CompletedTask;
            },
        });
        await using var _ = provider;
        var applied = new Counter();
        var key = await RunAndCrashAsync(executor, crash, applied);
        var asked = 0;

        armed = true;
        var value = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(-1); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(5)); });

        Assert.Equal(5, value);
        Assert.Equal(1, applied.Value);
        Assert.Equal(1, asked);
    }
}

public sealed class Counter
{
    int _value;

    public int Value => Volatile.Read(ref _value);

    public void Increment() => Interlocked.Increment(ref _value);
}

/// <summary>
/// A store decorator with hooks: <see cref="AfterClaim"/> runs with the caller's token after the claim reached the
/// inner store (as a Redis script does once sent) and before the reply reaches the caller.
/// </summary>
internal sealed class HookStore(IDedupStore inner) : IDedupStore
{
    public Func<ClaimResult, CancellationToken, Task>? AfterClaim { get; set; }

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        var result = await inner.ClaimAsync(key, owner, fingerprint, lease, retention, CancellationToken.None);
        if (AfterClaim is { } hook)
            await hook(result, cancellationToken);
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
