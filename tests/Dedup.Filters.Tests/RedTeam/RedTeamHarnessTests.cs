using Dedup.Filters.Tests.Filter;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red-team tests on MassTransit's test harness (in-memory transport, in-memory store): README promises attacked
/// through MassTransit's real consume pipeline.
/// </summary>
public sealed class RedTeamHarnessTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    static PipelineState State(TestBus bus) => bus.Provider.GetRequiredService<PipelineState>();

    // README, "When a claim completes": "MassTransit sent the message back for a delayed/scheduled redelivery → released
    // (the redelivered copy runs it)". UseScheduledRedelivery is MassTransit's recommended second-level retry, and its
    // default is RedeliveryOptions.ReplaceMessageId: the copy gets a NEW MessageId (the original goes to
    // MT-OriginalMessageId). ReplyCapture only recognises a redelivery whose MessageId equals the delivery's, so it misses
    // this copy, the commit filter COMPLETES the claim although the outbox discarded the event, and the copy (keyed by
    // MT-OriginalMessageId) is skipped as a duplicate: the event is never published, the consumer never runs again.
    [Fact]
    public async Task ScheduledRedelivery_AfterAFailedOutboxFlush_TheCopyRunsTheConsumer_AndTheEventIsPublishedOnce()
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.UseDelayedMessageScheduler();
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseScheduledRedelivery(r => r.Intervals(TimeSpan.FromMilliseconds(200)));
                cfg.UseInMemoryOutbox(context);
            });
        State(bus).PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2); // the first delivery and the scheduled copy
        await bus.Harness.InactivityTask;
        await WaitUntil(() => bus.Harness.Published.Select<PaymentCharged>().Any(), TimeSpan.FromSeconds(5));

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId)); // the attempt whose flush failed, then the copy
        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
    }

    // The same through UseDelayedRedelivery with ReplaceMessageId = true (a documented MassTransit option).
    [Fact]
    public async Task DelayedRedeliveryWithReplaceMessageId_AfterAFailedOutboxFlush_TheCopyRunsTheConsumer_AndTheEventIsPublishedOnce()
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.UseDelayedMessageScheduler();
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseDelayedRedelivery(r =>
                {
                    r.Intervals(TimeSpan.FromMilliseconds(200));
                    r.ReplaceMessageId = true;
                });
                cfg.UseInMemoryOutbox(context);
            });
        State(bus).PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);
        await bus.Harness.InactivityTask;
        await WaitUntil(() => bus.Harness.Published.Select<PaymentCharged>().Any(), TimeSpan.FromSeconds(5));

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
    }

    static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
            await Task.Delay(50);
    }
}

/// <summary>Dedup configured on the bus and on one endpoint at once (README: e.UseDedup(context) for one endpoint).</summary>
public sealed class RedTeamBusAndEndpointTests
{
    // README, Usage: cfg.UseDedup(context) deduplicates "every consumer on every endpoint"; e.UseDedup(context) "deduplicates
    // one endpoint only". DedupCommitFilter explicitly handles both at once ("the outer commit filter owns the delivery"),
    // but the consumer configuration observer is connected twice, so the consumer pipe gets TWO DedupFilters with the same
    // key: the inner one finds the outer's claim in progress (another owner token), waits InFlightWait and throws
    // DedupInFlightTimeoutException: the consumer never runs, for any message.
    [Fact]
    public async Task UseDedupOnBusAndOnEndpoint_RunsTheConsumerOnce()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<DeliveryCounter>();
        services.AddDedup(o =>
        {
            o.KeyPrefix = "both-" + Guid.NewGuid().ToString("N")[..8] + ":";
            o.InFlightWait = TimeSpan.FromSeconds(1);
        }).AddDedupInMemoryStore();
        services.AddMassTransitTestHarness(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(sp => sp.GetRequiredService<DeliveryCounter>());
            x.AddConsumer<ChargeConsumer>();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.UseDedup(context);
                cfg.ReceiveEndpoint("charges-both", e =>
                {
                    e.UseDedup(context);
                    e.ConfigureConsumer<ChargeConsumer>(context);
                });
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var ledger = provider.GetRequiredService<Ledger>();
            var deliveries = provider.GetRequiredService<DeliveryCounter>();
            var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

            await harness.Bus.Publish(payment, ctx => ctx.MessageId = id);
            await deliveries.WaitAsync<ChargePayment>(1);
            await harness.InactivityTask;
            await harness.Bus.Publish(payment, ctx => ctx.MessageId = id);
            await deliveries.WaitAsync<ChargePayment>(2);

            Assert.All(deliveries.Of<ChargePayment>(), Assert.Null);
            Assert.Equal(1, ledger.RunsOf(payment.PaymentId));
        }
        finally
        {
            await harness.Stop();
        }
    }
}
