using Dedup.Filters.Tests.Filter;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 7 on MassTransit's test harness (in-memory transport and store): what a newcomer combines with
/// <c>UseDedup</c> (README, Usage and "When a claim completes").
/// </summary>
public sealed class RedTeam7HarnessTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    // README, Usage: "o.KeyFor<ChargePayment>(m => m.PaymentId.ToString()) keys a type by a business key instead of its
    // MessageId". A rule written once for every payment command (an interface they share), as the takeover check may be
    // ("A check registered for a base class or interface answers for every message type derived from it"): a producer
    // that retries with a new MessageId must still meet the first run's record.
    [Fact]
    public async Task RedTeam7_KeyForAnInterface_AConsumerOfAnImplementingType_IsKeyedByTheBusinessKey()
    {
        await using var bus = await StartAsync(o => o.KeyFor<IPolyCharge>(m => m.PaymentId.ToString()),
            consumers: x => x.AddConsumer<PolyChargeOnlyConsumer>());
        var payment = new PolyCharge(Guid.NewGuid(), 3m);

        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<PolyCharge>(1);
        await Publish(bus, payment, Guid.NewGuid()); // the producer's retry: a new MessageId, the same payment
        await bus.ConsumedAsync<PolyCharge>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    // The same rule, and one consumer that takes the payment both as its type and as the interface (MassTransit delivers
    // a published message once per consumed type): README, Usage "one owner, one key, one run per delivery" needs one key
    // for both passes, and the business key for a retry with a new MessageId.
    [Fact]
    public async Task RedTeam7_KeyForAnInterface_AConsumerOfTheTypeAndTheInterface_RunsOncePerPayment()
    {
        await using var bus = await StartAsync(o => o.KeyFor<IPolyCharge>(m => m.PaymentId.ToString()),
            consumers: x => x.AddConsumer<PolyConsumer>());
        var payment = new PolyCharge(Guid.NewGuid(), 3m);

        await Publish(bus, payment, Guid.NewGuid());
        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<PolyCharge>(2);
        await bus.ConsumedAsync<IPolyCharge>(2);
        await bus.Harness.InactivityTask;

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    // The other side of the rule above: two rules of unrelated interfaces matching one type cannot both key it, and a
    // guess would key it by one of them silently; the bus refuses to start, naming both.
    [Fact]
    public async Task RedTeam7_KeyForTwoUnrelatedInterfacesOfOneType_StopsTheBusNamingBoth()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(
            o => o.KeyFor<IPolyCharge>(m => m.PaymentId.ToString()).KeyFor<IRedTeam7Amount>(m => m.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            consumers: x => x.AddConsumer<TwoRulesChargeConsumer>()));

        Assert.Contains("IPolyCharge and IRedTeam7Amount", failure.ToString(), StringComparison.Ordinal);
    }

    // README, "Replay and fingerprints": replies are recorded "whichever way they are sent: ... or an outbox that sends
    // them after the consumer returned". MassTransit's transactional outbox (UseInMemoryInboxOutbox here; the Entity
    // Framework Core and MongoDB outboxes deliver the same way) stores the reply's bytes when the consumer responds and
    // sends them later as a SerializedMessageBody. Before the fix the reply was recorded as that type with an empty body
    // ({"t":"MassTransit.Serialization.SerializedMessageBody, MassTransit","b":{}}), and a copy of the request that
    // reached dedup was answered with nothing: the requester timed out. The copy goes to a second worker (its own bus and
    // its own in-memory inbox, the same dedup store): within one worker MassTransit's inbox, which sits in front of the
    // consumer's filters, takes a copy it has seen before dedup does.
    [Fact]
    public async Task RedTeam7_TransactionalOutbox_ACopyOfTheRequestAtAnotherWorker_GetsTheOriginalReply()
    {
        var prefix = "rt7-outbox-" + Guid.NewGuid().ToString("N")[..8] + ":";
        static void Outbox(IBusRegistrationConfigurator x)
        {
            x.AddInMemoryInboxOutbox();
            x.AddConfigureEndpointsCallback((context, _, e) => e.UseInMemoryInboxOutbox(context));
            x.AddConsumer<QuoteConsumer>();
        }

        await using var first = await StartAsync(o => o.KeyPrefix = prefix, Outbox);
        var store = first.Provider.GetRequiredService<IDedupStore>();
        await using var second = await StartAsync(o => o.KeyPrefix = prefix, Outbox, register: s => s.AddSingleton(store));
        var (id, request) = (Guid.NewGuid(), new QuoteRequest("sku-7", 2));

        var original = await first.Harness.GetRequestClient<QuoteRequest>()
            .GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = id), timeout: TimeSpan.FromSeconds(5));
        var copy = await second.Harness.GetRequestClient<QuoteRequest>()
            .GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = id), timeout: TimeSpan.FromSeconds(5));

        Assert.Equal(original.Message.QuoteId, copy.Message.QuoteId);
        Assert.Equal(1, first.Ledger.Runs.GetValueOrDefault(Guid.Empty) + second.Ledger.Runs.GetValueOrDefault(Guid.Empty));
    }

    // README, "When a claim completes": a retry runs the pipeline again within the delivery with a higher epoch, and a
    // duplicate is skipped; here configured the way MassTransit's documentation recommends, in a consumer definition
    // (its own endpoint name, a concurrency limit and a consumer-level retry).
    [Fact]
    public async Task RedTeam7_ConsumerDefinitionWithRetryAndLimit_RetriesRunAgain_ADuplicateIsSkipped()
    {
        await using var bus = await StartAsync(consumers: x => x.AddConsumer<ChargeConsumer, RedTeam7ChargeDefinition>());
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 4m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        var epochs = bus.Ledger.Claims.Select(c => c!.Epoch).ToArray();
        Assert.Equal(2, epochs.Length); // the failed attempt and its retry; the duplicate never reached the consumer
        Assert.True(epochs[1] > epochs[0]);
    }
}

/// <summary>Takes a payment as its own type only.</summary>
public sealed class PolyChargeOnlyConsumer(Ledger ledger) : IConsumer<PolyCharge>
{
    public Task Consume(ConsumeContext<PolyCharge> context)
    {
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

public interface IRedTeam7Amount
{
    decimal Amount { get; }
}

public sealed record TwoRulesCharge(Guid PaymentId, decimal Amount) : IPolyCharge, IRedTeam7Amount;

public sealed class TwoRulesChargeConsumer : IConsumer<TwoRulesCharge>
{
    public Task Consume(ConsumeContext<TwoRulesCharge> context) => Task.CompletedTask;
}

public sealed class RedTeam7ChargeDefinition : ConsumerDefinition<ChargeConsumer>
{
    public RedTeam7ChargeDefinition()
    {
        EndpointName = "rt7-charges";
        ConcurrentMessageLimit = 4;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<ChargeConsumer> consumerConfigurator,
        IRegistrationContext context) =>
        consumerConfigurator.UseMessageRetry(r => r.Immediate(2));
}
