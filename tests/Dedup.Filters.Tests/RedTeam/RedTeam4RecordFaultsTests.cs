using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 4: <see cref="DedupOptions.RecordFaults"/> (README, "What each failure leads to", row "consumer throws, with
/// RecordFaults", and the Options row "a later duplicate gets the same Fault&lt;T&gt; instead of running again") attacked
/// through MassTransit's real consume and error pipes on the test harness (in-memory transport, in-memory store).
/// Tests whose name ends in <c>_Holds</c> pin a promise that held; the others fail on the code they were written against.
/// </summary>
public sealed class RedTeam4RecordFaultsTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    // Broken promise (README, Options: RecordFaults "record a terminal fault ... so a later duplicate gets the same Fault<T>
    // instead of running again"). MassTransit sends a consumer's Fault<T> to the message's FaultAddress (else its
    // ResponseAddress, else it publishes it). A command sent with a FaultAddress and no ResponseAddress (the usual way to
    // have a saga or a caller told about failed commands) gets its Fault<T> there the first time; its duplicate is
    // skipped without running, as promised, but nobody gets its Fault<T>: ClaimLifecycle.ReplayAsync returns at once when
    // the copy has no RequestId and no ResponseAddress, and even for a request it answers with RespondAsync (to the
    // ResponseAddress), never to the FaultAddress. To see it: run this test; the fault endpoint receives 1 fault, not 2.
    [Fact]
    public async Task RecordFaults_ACommandWithAFaultAddress_ItsDuplicateSendsTheSameFaultToTheFaultAddress()
    {
        await using var bus = await StartAsync(o => o.RecordFaults = true);
        bus.Ledger.FailuresLeft = 100;
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());

        var faults = new List<Fault<ChargePayment>>();
        var faultQueue = "rt4-faults-" + Guid.NewGuid().ToString("N")[..8];
        var handle = bus.Harness.Bus.ConnectReceiveEndpoint(faultQueue, e => e.Handler<Fault<ChargePayment>>(context =>
        {
            lock (faults)
                faults.Add(context.Message);
            return Task.CompletedTask;
        }));
        await handle.Ready;
        var faultAddress = new Uri($"loopback://localhost/{faultQueue}");

        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 7m));
        await bus.Harness.Bus.Publish(payment, ctx =>
        {
            ctx.MessageId = id;
            ctx.FaultAddress = faultAddress;
        });
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.FaultRecorded);

        await bus.Harness.Bus.Publish(payment, ctx =>
        {
            ctx.MessageId = id;
            ctx.FaultAddress = faultAddress;
        });
        await bus.ConsumedAsync<ChargePayment>(2);
        await bus.Harness.InactivityTask;

        Assert.Single(bus.Ledger.Claims); // the duplicate did not run: that part holds
        lock (faults)
        {
            Assert.Equal(2, faults.Count); // the original's fault and the duplicate's replayed one
            Assert.All(faults, f => Assert.Contains("transient failure (test)", f.Exceptions[0].Message, StringComparison.Ordinal));
        }
    }

    // Held (README, row "consumer throws, with RecordFaults": "when the error pipe has finished with the message (error
    // queue, discard) the same owner completes it with the fault"). With e.DiscardFaultedMessages() the fault is still
    // recorded, and a later duplicate request is answered with it without running the consumer.
    [Fact]
    public async Task RecordFaults_DiscardFaultedMessages_ADuplicateRequestGetsTheFault_Holds()
    {
        await using var bus = await StartAsync(o =>
            {
                o.RecordFaults = true;
                o.InFlightWait = TimeSpan.FromSeconds(30);
            },
            x =>
            {
                x.AddConsumer<QuoteConsumer>();
                x.AddConfigureEndpointsCallback((_, e) => e.DiscardFaultedMessages());
            });
        bus.Ledger.FailuresLeft = 100;
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var id = Guid.NewGuid();

        await bus.Harness.Bus.Publish(new QuoteRequest("fig", 1), ctx => ctx.MessageId = id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.FaultRecorded);
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: 30));
        var fault = await Assert.ThrowsAsync<RequestFaultException>(() =>
            client.GetResponse<QuoteReply>(new QuoteRequest("fig", 1), x => x.UseExecute(ctx => ctx.MessageId = id)));

        Assert.Single(bus.Ledger.Claims);
        Assert.Contains("quote failed (test)", fault.Fault!.Exceptions[0].Message, StringComparison.Ordinal);
    }

    // Held (README, "When a claim completes": a delayed redelivery releases the claim, and the row "consumer throws, with
    // RecordFaults": "when the message goes back to the broker instead, it is released"). The consumer fault sets
    // MassTransit's ReceiveContext.IsFaulted although UseDelayedRedelivery swallowed it; the error filter still releases
    // the held claim (no DeliveryFault), the redelivered copy runs, and a later duplicate is skipped: no fault recorded.
    [Fact]
    public async Task RecordFaults_DelayedRedeliveryAfterAFailure_TheCopyRunsAndNoFaultIsRecorded_Holds()
    {
        await using var bus = await StartAsync(o =>
            {
                o.RecordFaults = true;
                o.InFlightWait = TimeSpan.FromSeconds(30);
            },
            bus: (cfg, _) =>
            {
                cfg.UseDelayedMessageScheduler();
                cfg.UseDelayedRedelivery(r => r.Intervals(TimeSpan.FromMilliseconds(100)));
            });
        bus.Ledger.FailuresLeft = 1;
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 3m));

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.First);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(3);
        await bus.Harness.InactivityTask;

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, bus.Ledger.Claims.Count); // the failed attempt and the redelivered copy; the duplicate did not run
        lock (outcomes)
            Assert.DoesNotContain(DedupOutcomes.FaultRecorded, outcomes);
    }
}
