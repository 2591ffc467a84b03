using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Stores;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team, takeover verification across a graceful stop: two "processes" (two buses) share one store. The first
/// process crashed after the side effect (its claim is left in progress); a second one is stopped (SIGTERM) while its
/// takeover claim is in flight; a third one gets the next copy.
/// </summary>
public sealed class TakeoverRedTeamShutdownTests : BusTestBase, IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(300);

    readonly InMemoryDedupStore _shared = new(TimeProvider.System);
    readonly CrashingStore _crash;
    readonly HookStore _hook;

    public TakeoverRedTeamShutdownTests()
    {
        _crash = new CrashingStore(_shared);
        _hook = new HookStore(_crash);
    }

    protected override void AddStore(IServiceCollection services)
    {
        services.AddSingleton<IDedupStore>(_hook); // one store shared by every "process"
        services.Configure<MassTransitHostOptions>(o =>
        {
            o.ConsumerStopTimeout = TimeSpan.FromMilliseconds(200);
            o.StopTimeout = TimeSpan.FromSeconds(5);
        });
    }

    readonly string _prefix = "shutdown-" + Guid.NewGuid().ToString("N")[..8] + ":";

    void Options(DedupOptions o)
    {
        o.Lease = Lease;
        o.KeyPrefix = _prefix; // the same keys in every "process"
    }

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    public void Dispose() => _shared.Dispose();

    // Red team, broken before the fix (README "What each failure leads to": "process crashes after the side effect, before complete → the
    // next copy takes the claim over; with a takeover check registered ... the check is asked first"; Guarantees,
    // scenario 15: "SIGTERM ... cancels consumers after ConsumerStopTimeout, releases their claims; another process runs
    // them once"). A process stopped while its TAKEOVER claim is in flight (MassTransit cancels
    // ConsumeContext.CancellationToken after ConsumerStopTimeout) goes through ClaimCoordinator.ReleaseOrphanAsync: it
    // re-claims with its owner token (answered TakenOver) and RELEASES. The crashed owner's in-progress record, the only
    // trace that its work may have happened, is erased: the next process claims the key afresh, the registered check is
    // never asked, and the crashed owner's side effect runs a second time.
    [Fact]
    public async Task StoppedWhileItsTakeoverClaimIsInFlight_TheNextProcessStillAsksTheCheck()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        void Register(IServiceCollection services)
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
        }

        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 7m));
        var firstRuns = 0;
        var cancelledInFlight = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Process 1: runs the payment, "dies" before the completion reaches the store.
        // (Providers are disposed at the end only: MassTransit's log context outlives a disposed provider.)
        await using var first = await StartAsync(Options, register: Register);
        _crash.Crashing = true;
        await Publish(first, payment, id);
        await _crash.Crashed.WaitAsync(TimeSpan.FromSeconds(10));
        firstRuns = first.Ledger.RunsOf(payment.PaymentId);
        await first.Harness.Stop();

        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));

        // Process 2: the redelivery's takeover claim reaches the store; its reply is slow (a reconnecting client) and the
        // process is stopped meanwhile.
        await using var second = await StartAsync(Options, register: Register);
        var armed = 1;
        _hook.AfterClaim = async (result, token) =>
        {
            if (result.Outcome != ClaimOutcome.TakenOver || Interlocked.Exchange(ref armed, 0) == 0)
                return;
            inFlight.TrySetResult();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(5), token);
                cancelledInFlight.TrySetResult(false);
            }
            catch (OperationCanceledException)
            {
                cancelledInFlight.TrySetResult(true);
                throw;
            }
        };
        await Publish(second, payment, id);
        await Task.WhenAny(inFlight.Task, Task.Delay(5000));
        Assert.True(inFlight.Task.IsCompleted, "no takeover claim: " + string.Join(",", _crash.Outcomes) + " runs " + second.Ledger.RunsOf(payment.PaymentId) + " faults " + string.Join(";", second.Deliveries.Of<ChargePayment>()));
        await second.Harness.Stop(); // SIGTERM
        Assert.True(await cancelledInFlight.Task.WaitAsync(TimeSpan.FromSeconds(10)), "the stop did not cancel the consume token");

        // Process 3: the next copy.
        await using var third = await StartAsync(Options, register: Register);
        await Publish(third, payment, id);
        await third.ConsumedAsync<ChargePayment>(1);

        Assert.Equal(1, firstRuns);
        Assert.Equal(0, third.Ledger.RunsOf(payment.PaymentId)); // the side effect already happened in process 1
        Assert.Single(script.Asked);
    }
}
