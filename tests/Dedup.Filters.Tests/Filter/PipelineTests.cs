using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>
/// The promise through MassTransit's real pipeline (issue 9, items 1, 3 and 5): every reply path is recorded exactly
/// once; a claim completes only after everything around its consumer (outbox, unit of work, retry) succeeded; one
/// consumer's failure does not make another consumer of the same message run again.
/// </summary>
public abstract class PipelineTests : BusTestBase
{
    static Task<Response<QuoteReply>> Request(TestBus bus, QuoteRequest request, Guid messageId)
    {
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: 30));
        return client.GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
    }

    static async Task<Guid> RequestQuoteId(TestBus bus, ReplyPath path, QuoteRequest request, Guid messageId)
    {
        if (path != ReplyPath.Initializer)
            return (await Request(bus, request, messageId)).Message.QuoteId;

        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: 30));
        var response = await client.GetResponse<InitializedQuote>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
        return response.Message.QuoteId;
    }

    static PipelineState State(TestBus bus) => bus.Provider.GetRequiredService<PipelineState>();

    // Item 1: the non-generic overloads went through the capturing proxy twice, so a duplicate got two replies.
    [Theory]
    [InlineData(ReplyPath.Generic)]
    [InlineData(ReplyPath.GenericWithPipe)]
    [InlineData(ReplyPath.NonGeneric)]
    [InlineData(ReplyPath.ObjectWithType)]
    [InlineData(ReplyPath.ObjectWithPipe)]
    [InlineData(ReplyPath.ObjectWithTypeAndPipe)]
    [InlineData(ReplyPath.Initializer)]
    [InlineData(ReplyPath.ScopedService)]
    public async Task EveryReplyPath_IsRecordedOnce_AndADuplicateGetsExactlyTheOriginalReply(ReplyPath path)
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30), x => x.AddConsumer<ReplyingQuoteConsumer>());
        State(bus).ReplyPath = path;
        var id = Guid.NewGuid();

        var first = await RequestQuoteId(bus, path, new QuoteRequest("apple", 1), id);
        var second = await RequestQuoteId(bus, path, new QuoteRequest("apple", 1), id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Equal(first, second);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        var sent = path == ReplyPath.Initializer ? bus.Harness.Sent.Select<InitializedQuote>().Count() : bus.Harness.Sent.Select<QuoteReply>().Count();
        Assert.Equal(2, sent); // the original and one replay, never two
    }

    [Fact]
    public async Task AScopedServiceSeesTheClaim_ThroughItsInjectedConsumeContext()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30), x => x.AddConsumer<ReplyingQuoteConsumer>());
        State(bus).ReplyPath = ReplyPath.ScopedService;

        await Request(bus, new QuoteRequest("pear", 1), Guid.NewGuid());

        var claim = Assert.Single(State(bus).ServiceClaims);
        Assert.NotNull(claim);
        Assert.True(claim.Epoch > 0);
    }

    // Item 3: the record was written before the outbox flushed; a flush that failed once left the event unpublished forever.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BusLevelOutboxFlushFailsOnce_TheRetryRunsTheConsumerAgain_AndTheEventIsPublishedOnce(bool dedupFirst)
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseMessageRetry(r => r.Immediate(3));
                cfg.UseInMemoryOutbox(context);
            },
            dedupFirst: dedupFirst);
        State(bus).PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId)); // the flushed-and-failed attempt, then the retry; the duplicate never
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ConsumerLevelOutboxFlushFailsOnce_TheRetryRunsTheConsumerAgain_AndTheEventIsPublishedOnce(bool dedupFirst)
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>((context, c) => c.UseInMemoryOutbox(context)),
            bus: (cfg, context) =>
            {
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseMessageRetry(r => r.Immediate(3));
            },
            dedupFirst: dedupFirst);
        State(bus).PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UnitOfWorkCommitFailsOnce_TheRetryRunsTheConsumerAgain_AndTheWorkIsCommittedOnce(bool dedupFirst)
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<UnitOfWorkConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.UseMessageRetry(r => r.Immediate(3));
                cfg.UseConsumeFilter(typeof(CommitFilter<>), context);
            },
            dedupFirst: dedupFirst);
        State(bus).CommitFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Equal(1, State(bus).Committed);
    }

    // Item 5: one consumer's await of the shared ConsumeCompleted saw the other's failed reply and released its own claim.
    [Fact]
    public async Task TwoConsumersOnOneEndpoint_OnesFailedReplyDoesNotMakeTheOtherRunAgain()
    {
        await using var bus = await StartAsync(
            o => o.InFlightWait = TimeSpan.FromSeconds(30),
            x =>
            {
                x.AddConsumer<ReplyingQuoteConsumer>().Endpoint(e => e.Name = "shared-quotes");
                x.AddConsumer<AuditingQuoteConsumer>().Endpoint(e => e.Name = "shared-quotes");
            },
            (cfg, context) => cfg.ConfigureSend(s => s.UseFilter(new FailingReplyFilter(context.GetRequiredService<PipelineState>()))));
        State(bus).AuditReplyFailuresLeft = 1;
        var id = Guid.NewGuid();

        var first = await Request(bus, new QuoteRequest("fig", 1), id);  // the quote answers; the audit's reply fails
        await bus.Deliveries.ReceivedAsync(id, 1);
        var second = await Request(bus, new QuoteRequest("fig", 1), id); // the redelivery of the same message
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty)); // the quote consumer ran once
        Assert.Equal(2, State(bus).AuditRuns);           // the audit consumer, whose reply failed, ran again
    }

    // A retry that re-runs both consumers of a message: the one that succeeded is not run again when nothing wraps it.
    [Fact]
    public async Task TwoConsumersOnOneEndpoint_OneThrowsUnderMessageRetry_TheOtherRunsOnce()
    {
        await using var bus = await StartAsync(
            consumers: x =>
            {
                x.AddConsumer<NotifyingConsumer>().Endpoint(e => e.Name = "shared-payments");
                x.AddConsumer<FlakySiblingConsumer>().Endpoint(e => e.Name = "shared-payments");
            },
            bus: (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(3)));
        State(bus).SiblingFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, State(bus).SiblingRuns);
        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
    }

    // The same under a bus-level outbox: the outbox discarded the first consumer's event when its sibling failed, so that
    // consumer must run again for the event to be published once.
    [Fact]
    public async Task TwoConsumersOnOneEndpoint_OneThrowsUnderABusLevelOutbox_TheOtherRunsAgain_AndItsEventIsPublishedOnce()
    {
        await using var bus = await StartAsync(
            consumers: x =>
            {
                x.AddConsumer<NotifyingConsumer>().Endpoint(e => e.Name = "shared-payments-outbox");
                x.AddConsumer<FlakySiblingConsumer>().Endpoint(e => e.Name = "shared-payments-outbox");
            },
            bus: (cfg, context) =>
            {
                cfg.UseMessageRetry(r => r.Immediate(3));
                cfg.UseInMemoryOutbox(context);
            });
        State(bus).SiblingFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2);

        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
        Assert.Equal(2, State(bus).SiblingRuns);
    }

    // MassTransit's delayed redelivery swallows the failure and sends a copy back: the claim is released, not completed,
    // so the copy runs the consumer and publishes the event the outbox discarded.
    [Fact]
    public async Task DelayedRedeliveryAfterAFailedOutboxFlush_TheCopyRunsTheConsumer_AndTheEventIsPublishedOnce()
    {
        await using var bus = await StartAsync(
            consumers: x => x.AddConsumer<NotifyingConsumer>(),
            bus: (cfg, context) =>
            {
                cfg.UseDelayedMessageScheduler();
                cfg.ConfigurePublish(p => p.UseFilter(new FailingPublishFilter(context.GetRequiredService<PipelineState>())));
                cfg.UseDelayedRedelivery(r => r.Intervals(TimeSpan.FromMilliseconds(200)));
                cfg.UseInMemoryOutbox(context);
            });
        State(bus).PublishFailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 2); // the original and the copy MassTransit sent back
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 3);

        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
    }
}

public sealed class InMemoryPipelineTests : PipelineTests
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();
}
