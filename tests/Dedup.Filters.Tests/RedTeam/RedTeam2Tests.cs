using Dedup.Diagnostics;
using Dedup.Execution;
using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 2: the takeover check asked on a claim that follows a release (README "Closing the crash window",
/// "The claim protocol", "What each failure leads to"), through the filter, in-memory store.
/// </summary>
public sealed class RedTeam2FilterTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    static void UseLedgerCheck(IServiceCollection services, TakeoverScript script)
    {
        services.AddSingleton(script);
        services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
    }

    // Red team 2 found: the in-memory outbox discards what it held when the flush fails; the retry's claim follows that
    // release and asks the check. A check that sees only the effect answers Applied and the event is lost. The README
    // ("Not guaranteed": work that continues after the effect the check sees) now says so, and says what a check must
    // do with the in-memory outbox: answer Applied only when it can also tell the event went out. This test is that
    // check: the event is published once (and the consumer's effect runs again: the trade-off the README states).
    [Fact]
    public async Task OutboxFlushFailsOnce_ACheckThatAlsoLooksForTheEvent_TheEventIsPublishedOnce()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseMessageRetry(r => r.Immediate(3));
                cfg.UseInMemoryOutbox(context);
            },
            register: services => UseLedgerCheck(services, script));
        var outcomes = new List<string>();
        using var _ = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        script.Answer = t =>
        {
            var payment = ((DedupTakeover<ChargePayment>)t).Message.PaymentId;
            var published = Volatile.Read(ref bus.Provider.GetRequiredService<PipelineState>().PaymentsChargedPublished) > 0;
            return bus.Ledger.RunsOf(payment) > 0 && published ? TakeoverVerdict.Applied() : TakeoverVerdict.NotApplied;
        };
        bus.Provider.GetRequiredService<PipelineState>().PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.First); // the retry ran the consumer again

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId)); // the effect again: the trade-off the README states
        Assert.Equal(1, bus.Provider.GetRequiredService<PipelineState>().PaymentsChargedPublished);
        Assert.Single(script.Asked);
    }

    // Red team 2, broken before the fix (README "Closing the crash window": the check is "asked only when a previous owner's work may have
    // happened — on a takeover, and on a claim that follows a release (an attempt that failed, perhaps after its side
    // effect: the consumer threw after writing ...)"; the table: Applied → "completed without running the consumer, its
    // record marked recovered").
    // With RecordFaults, DedupErrorFilter re-acquires the key after the failed attempt released it: that claim follows a
    // release, yet it never asks the check and writes a terminal Fault record over work the check reports as applied. Every
    // later copy is then answered from that Fault record (a requester of a charged payment gets a Fault), and the check is
    // never asked. Fails: the check was asked 0 times, and the key is a recorded fault.
    [Fact]
    public async Task RecordFaults_ConsumerThrowsAfterItsSideEffect_TheFaultIsNotRecordedOverAppliedWork_TheCheckIsAsked()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(o => o.RecordFaults = true, x => x.AddConsumer<ChargeThenFailConsumer>(),
            register: services => UseLedgerCheck(services, script));
        var outcomes = new List<string>();
        using var _ = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        script.Answer = t => bus.Ledger.RunsOf(((DedupTakeover<ChargePayment>)t).Message.PaymentId) > 0 ? TakeoverVerdict.Applied() : TakeoverVerdict.NotApplied;
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 2m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Task.Delay(300); // the error pipe, then the fault record (if any)
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);
        await Task.Delay(300);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId)); // holds either way
        lock (outcomes)
        {
            Assert.DoesNotContain(DedupOutcomes.FaultRecorded, outcomes);
            Assert.Contains(DedupOutcomes.Recovered, outcomes);
        }

        Assert.NotEmpty(script.Asked);
    }

    // Red team 2, PROBE (held expected): two consumers of one message on one endpoint under UseMessageRetry; one makes its
    // effect and throws once. The retry's claim of that consumer follows its release, so the check is asked and the
    // consumer does not make its effect again; the other consumer's completed work is not run again either.
    [Fact]
    public async Task TwoConsumersOnOneEndpoint_OneThrowsAfterItsEffect_TheRetryAsksTheCheck_NeitherRunsTwice()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(10), x =>
            {
                x.AddConsumer<ChargeThenFailConsumer>().Endpoint(e => e.Name = "rt2-shared");
                x.AddConsumer<CountingChargeConsumer>().Endpoint(e => e.Name = "rt2-shared");
            },
            bus: (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(2)),
            register: services => UseLedgerCheck(services, script));
        var outcomes = new List<string>();
        using var _ = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        script.Answer = t => ((DedupTakeover<ChargePayment>)t).Owner == typeof(ChargeThenFailConsumer) && bus.Ledger.RunsOf(((DedupTakeover<ChargePayment>)t).Message.PaymentId) > 0
            ? TakeoverVerdict.Applied()
            : TakeoverVerdict.NotApplied;
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 4m));

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Recovered);
        await Task.Delay(200);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty)); // the counting consumer
    }
}

/// <summary>Counts its runs under <see cref="Guid.Empty"/> in the ledger.</summary>
public sealed class CountingChargeConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Runs.AddOrUpdate(Guid.Empty, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>Red team 2 through the executor, in-memory store.</summary>
public sealed class RedTeam2ExecutorTests
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(300);

    static (IDedupExecutor Executor, ServiceProvider Provider) Build(Func<IDedupStore, IDedupStore>? wrap = null, LogCapture? logs = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            if (logs is not null)
                b.AddProvider(logs);
        });
        services.AddDedup(o =>
        {
            o.KeyPrefix = "rt2-exec-" + Guid.NewGuid().ToString("N")[..8] + ":";
            o.Lease = Lease;
        });
        services.AddDedupInMemoryStore();
        var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IDedupStore>();
        var coordinator = ActivatorUtilities.CreateInstance<ClaimCoordinator>(provider, wrap is null ? store : wrap(store));
        return (ActivatorUtilities.CreateInstance<DedupExecutor>(provider, coordinator), provider);
    }

    // Red team 2, broken before the fix (README "What each failure leads to": "claim call slow ... a claim that took over a third of the
    // lease is renewed at once before the consumer runs, so it is not lost on arrival"; "Guaranteed": a paused owner past
    // its lease "finds its lease lost, its CancellationToken is cancelled, it records nothing").
    // A claim whose reply arrives after its whole lease (a slow Redis, or with Durability.AfterClaim a WAIT queued behind
    // others for one of the Connections) meets a copy that took the key over and completed it meanwhile.
    // ClaimCoordinator.ConfirmSlowClaimAsync renews, the store answers "lost" (false) — and the answer is ignored: the
    // claim is handed back as owned and the work runs, on a key another owner already completed. Fails: the work ran twice.
    [Fact]
    public async Task ClaimReplyArrivesAfterItsLease_AndTheKeyWasTakenOverAndCompleted_TheWorkDoesNotRunAgain()
    {
        var first = true;
        var logs = new LogCapture();
        var (executor, provider) = Build(
            store => new HookStore(store)
            {
                AfterClaim = async (_, _) =>
                {
                    if (first)
                    {
                        first = false;
                        await Task.Delay(Lease * 5, CancellationToken.None);
                    }
                },
            },
            logs);
        await using var _ = provider;
        var applied = new Counter();
        var key = "slow:" + Guid.NewGuid();

        var slow = executor.ExecuteAsync(key, _ => { applied.Increment(); return Task.FromResult(1); });
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(150)); // the slow claim's lease ran out in the store
        Assert.Equal(2, await executor.ExecuteAsync(key, _ => { applied.Increment(); return Task.FromResult(2); }));
        Assert.Equal(1, applied.Value);

        try
        {
            await slow;
        }
        catch (DedupException)
        {
            // lease lost: fine, as long as the work did not run
        }

        Assert.Equal(1, applied.Value);

        // And an operator can see why the slow copy did not run (event 19), not only that it counted a duplicate.
        var lostOnArrival = Assert.Single(logs.Entries, e => e.EventId.Id == 19);
        Assert.Equal(LogLevel.Warning, lostOnArrival.Level);
        Assert.Contains("another owner had taken the key over", lostOnArrival.Message, StringComparison.Ordinal);
    }

    // Red team 2, PROBE (held expected): the executor's work throws after its effect; the next call's claim follows the
    // release and asks verifyTakeover with the released epoch; Applied(result) is returned and the work does not run.
    [Fact]
    public async Task WorkThrowsAfterItsEffect_TheNextCallAsksTheCheck_AndGetsTheRecoveredResult()
    {
        var (executor, provider) = Build();
        await using var _ = provider;
        var applied = new Counter();
        var key = "retry:" + Guid.NewGuid();
        long firstEpoch = 0;

        await Assert.ThrowsAsync<InvalidOperationException>(() => executor.ExecuteAsync<int>(key, (claim, _) =>
        {
            firstEpoch = claim.Epoch;
            applied.Increment();
            throw new InvalidOperationException("after the effect (test)");
        }));
        DedupTakeover? asked = null;
        var result = await executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(1); },
            (t, _) => { asked = t; return Task.FromResult(applied.Value > 0 ? TakeoverVerdict.Applied(7) : TakeoverVerdict.NotApplied); });

        Assert.Equal(7, result);
        Assert.Equal(1, applied.Value);
        Assert.Equal(firstEpoch, asked!.PreviousEpoch);
        Assert.Equal(7, await executor.ExecuteAsync(key, _ => { applied.Increment(); return Task.FromResult(9); }));
    }

    // Red team 2, PROBE (held expected): a duplicate waiting (Busy) on a holder that makes its effect and throws is woken by
    // the release, claims after it, and asks the check instead of running the work again.
    [Fact]
    public async Task WaiterWokenByAReleaseAfterTheEffect_AsksTheCheck_AndDoesNotRunTheWork()
    {
        var (executor, provider) = Build();
        await using var _ = provider;
        var applied = new Counter();
        var key = "wait:" + Guid.NewGuid();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var fail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var holder = executor.ExecuteAsync<int>(key, async (_, _) =>
        {
            applied.Increment();
            started.SetResult();
            await fail.Task;
            throw new InvalidOperationException("after the effect (test)");
        });
        await started.Task;
        var asked = 0;
        var waiter = executor.ExecuteAsync(key, (_, _) => { applied.Increment(); return Task.FromResult(1); },
            (_, _) => { Interlocked.Increment(ref asked); return Task.FromResult(TakeoverVerdict.Applied(7)); });
        await Task.Delay(100);
        fail.SetResult();

        await Assert.ThrowsAsync<InvalidOperationException>(() => holder);
        Assert.Equal(7, await waiter);
        Assert.Equal(1, applied.Value);
        Assert.Equal(1, asked);
    }
}
