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

    // README, "When a claim completes": "MassTransit sent the message back for a delayed/scheduled redelivery → released (the
    // redelivered copy runs it)". MassTransit's own API for a consumer that cannot handle a message yet is
    // context.Redeliver(delay) (the message scheduler sends a copy, the consumer returns normally). Redeliver defaults to
    // RedeliveryOptions.ReplaceMessageId, so ReplyCapture does not recognise the copy: the claim is completed, and the copy,
    // keyed by MT-OriginalMessageId, is skipped as a duplicate. The message is never processed.
    [Fact]
    public async Task ConsumerThatCallsRedeliver_TheRedeliveredCopyRunsTheConsumer_AndIsProcessed()
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotYetConsumer>(),
            bus: (cfg, _) => cfg.UseDelayedMessageScheduler());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2); // the first delivery (deferred) and the redelivered copy
        await bus.Harness.InactivityTask;

        Assert.Equal(2, bus.Ledger.Claims.Count);              // the consumer ran for the copy too
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId)); // and processed it
    }

    // README, Usage: "e.UseDedup(context) inside cfg.ReceiveEndpoint(...) deduplicates one endpoint only"; replies are then
    // captured by an observer connected when the endpoint is ready. Holds; no existing test covers replay with endpoint-level
    // dedup.
    [Fact]
    public async Task EndpointLevelDedup_ADuplicateRequestGetsTheOriginalReply()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<DeliveryCounter>();
        services.AddDedup(o => o.KeyPrefix = "endpoint-replay-" + Guid.NewGuid().ToString("N")[..8] + ":").AddDedupInMemoryStore();
        services.AddMassTransitTestHarness(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumer<QuoteConsumer>();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ReceiveEndpoint("redteam-endpoint-quotes", e =>
                {
                    e.UseDedup(context);
                    e.ConfigureConsumer<QuoteConsumer>(context);
                });
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var id = Guid.NewGuid();
            var client = harness.Bus.CreateRequestClient<QuoteRequest>(new Uri("queue:redteam-endpoint-quotes"), RequestTimeout.After(s: 10));

            var first = await client.GetResponse<QuoteReply>(new QuoteRequest("lime", 1), x => x.UseExecute(ctx => ctx.MessageId = id));
            var second = await client.GetResponse<QuoteReply>(new QuoteRequest("lime", 1), x => x.UseExecute(ctx => ctx.MessageId = id));

            Assert.Equal(first.Message, second.Message);
            Assert.Equal(1, provider.GetRequiredService<Ledger>().RunsOf(Guid.Empty));
        }
        finally
        {
            await harness.Stop();
        }
    }

    // README, "Replay and fingerprints": "Replies are serialised with MassTransit's JSON options" (the record comment: "which
    // handle interface message types"). MassTransit contracts are very often interfaces, answered with an initializer.
    // Holds; no existing test replays an interface contract with a nested interface collection.
    [Fact]
    public async Task InterfaceReplyFromAnInitializer_IsReplayedToADuplicate()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30), x => x.AddConsumer<InterfaceQuoteConsumer>());
        var id = Guid.NewGuid();
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: 10));

        var first = await client.GetResponse<IQuoteAnswer>(new QuoteRequest("date", 1), x => x.UseExecute(ctx => ctx.MessageId = id));
        var second = await client.GetResponse<IQuoteAnswer>(new QuoteRequest("date", 1), x => x.UseExecute(ctx => ctx.MessageId = id));

        Assert.Equal(first.Message.QuoteId, second.Message.QuoteId);
        Assert.Equal(first.Message.Lines.Count, second.Message.Lines.Count);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    // README, Usage: cfg.UseDedup(context) covers "every consumer on every endpoint", keyed "by its MessageId". A batch
    // consumer (IConsumer<Batch<T>>, a standard MassTransit consumer) is keyed by the MessageId of the batch's LAST message
    // only (MassTransit builds the Batch<T> context on the last message's context), so a redelivered copy of an earlier
    // message of a completed batch lands in a new batch with another key and is processed again.
    [Fact]
    public async Task BatchConsumer_ARedeliveredMessageOfACompletedBatch_IsNotProcessedAgain()
    {
        await using var bus = await StartAsync(consumers: x => x.AddConsumer<ChargeBatchConsumer>(c => c.Options<BatchOptions>(o => o
            .SetMessageLimit(2)
            .SetTimeLimit(TimeSpan.FromMilliseconds(300))
            .SetConcurrencyLimit(1))));
        var (idA, a) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        var (idB, b) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 2m));

        await Publish(bus, a, idA);
        await Publish(bus, b, idB);
        await WaitUntil(() => bus.Ledger.RunsOf(a.PaymentId) > 0 && bus.Ledger.RunsOf(b.PaymentId) > 0, TimeSpan.FromSeconds(10));
        await bus.Harness.InactivityTask;
        await Publish(bus, a, idA); // the broker redelivers A (a lost ack), alone
        await Task.Delay(1000);
        await bus.Harness.InactivityTask;

        Assert.Equal(1, bus.Ledger.RunsOf(b.PaymentId));
        Assert.Equal(1, bus.Ledger.RunsOf(a.PaymentId));
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

public interface IQuoteAnswer
{
    string Sku { get; }

    Guid QuoteId { get; }

    IReadOnlyList<IQuoteLine> Lines { get; }
}

public interface IQuoteLine
{
    string Item { get; }

    decimal Price { get; }
}

/// <summary>Answers with an interface contract built by MassTransit's message initializer.</summary>
public sealed class InterfaceQuoteConsumer(Ledger ledger) : IConsumer<QuoteRequest>
{
    public Task Consume(ConsumeContext<QuoteRequest> context)
    {
        ledger.Runs.AddOrUpdate(Guid.Empty, 1, (_, n) => n + 1);
        return context.RespondAsync<IQuoteAnswer>(new
        {
            context.Message.Sku,
            QuoteId = Guid.NewGuid(),
            Lines = new[] { new { Item = "a", Price = 1.5m }, new { Item = "b", Price = 2m } },
        });
    }
}

/// <summary>A batch consumer: counts each payment in each batch it gets.</summary>
public sealed class ChargeBatchConsumer(Ledger ledger) : IConsumer<Batch<ChargePayment>>
{
    public Task Consume(ConsumeContext<Batch<ChargePayment>> context)
    {
        foreach (var message in context.Message)
            ledger.Runs.AddOrUpdate(message.Message.PaymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>Defers a payment the first time it sees it (context.Redeliver), processes it the next time.</summary>
public sealed class NotYetConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public async Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Claims.Enqueue(context.GetDedupClaim());
        if (ledger.Claims.Count == 1)
        {
            await context.Redeliver(TimeSpan.FromMilliseconds(200));
            return;
        }

        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
    }
}
