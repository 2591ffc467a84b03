using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>
/// Batch consumers (issue 9, item 8): each message of a batch is claimed under its own key (endpoint + consumer,
/// its own MessageId), duplicates are taken out of the batch, and the rest complete or are released together.
/// </summary>
public abstract class BatchTests : BusTestBase
{
    Task<TestBus> StartBatchAsync(Action<DedupOptions>? configure = null) =>
        StartAsync(configure, x =>
        {
            x.AddSingleton<BatchLog>();
            x.AddConsumer<ChargeBatchConsumer>(c => c.Options<BatchOptions>(o => o.SetMessageLimit(5).SetTimeLimit(ms: 300)));
        });

    static BatchLog Log(TestBus bus) => bus.Provider.GetRequiredService<BatchLog>();

    static async Task SendAsync(TestBus bus, IEnumerable<(Guid Id, ChargePayment Payment)> messages)
    {
        foreach (var (id, payment) in messages)
            await Publish(bus, payment, id);
    }

    static (Guid Id, ChargePayment Payment)[] Payments(int count) =>
        [.. Enumerable.Range(0, count).Select(_ => (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m)))];

    [Fact]
    public async Task BatchOfDistinctMessages_RunsEachOnce()
    {
        await using var bus = await StartBatchAsync();
        var payments = Payments(5);

        await SendAsync(bus, payments);
        await bus.ConsumedAsync<ChargePayment>(5);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    [Fact]
    public async Task EachMessageOfABatch_CarriesItsOwnClaim()
    {
        await using var bus = await StartBatchAsync();

        await SendAsync(bus, Payments(5));
        await bus.ConsumedAsync<ChargePayment>(5);

        var claims = Log(bus).Claims.ToArray();
        Assert.Equal(5, claims.Length);
        Assert.All(claims, Assert.NotNull);
        Assert.Equal(5, claims.Select(c => c!.Key).Distinct().Count());
    }

    [Fact]
    public async Task SameMessageIdsAgain_DoNotRunTheBatchConsumer_AndNothingFaults()
    {
        await using var bus = await StartBatchAsync();
        var payments = Payments(5);

        await SendAsync(bus, payments);
        await bus.ConsumedAsync<ChargePayment>(5);
        await SendAsync(bus, payments);
        await bus.ConsumedAsync<ChargePayment>(10);
        await bus.Harness.InactivityTask;

        Assert.Single(Log(bus).Batches);
        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        Assert.Empty(bus.Harness.Published.Select<Fault<ChargePayment>>());
    }

    [Fact]
    public async Task MixedBatch_TheConsumerSeesOnlyTheNewMessages()
    {
        await using var bus = await StartBatchAsync();
        var processed = Payments(3);
        var fresh = Payments(2);

        await SendAsync(bus, processed);
        await bus.ConsumedAsync<ChargePayment>(3);
        var before = Log(bus).Batches.Count;
        await SendAsync(bus, [fresh[0], processed[0], processed[1], fresh[1], processed[2]]);
        await bus.ConsumedAsync<ChargePayment>(8);

        var after = Log(bus).Batches.Skip(before).SelectMany(b => b).Order().ToArray();
        Assert.Equal(fresh.Select(p => p.Payment.PaymentId).Order().ToArray(), after);
        Assert.All(processed.Concat(fresh), p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    [Fact]
    public async Task ConflictingMessageInABatch_FaultsAlone_AndTheOthersRun()
    {
        await using var bus = await StartBatchAsync();
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        var fresh = Payments(4);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await SendAsync(bus, [.. fresh, (id, payment with { Amount = 99m })]);
        await bus.Harness.InactivityTask;

        Assert.All(fresh, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        var fault = Assert.Single(bus.Harness.Published.Select<ReceiveFault>());
        Assert.Contains(fault.Context.Message.Exceptions, e => e.ExceptionType == typeof(DedupConflictException).FullName);
    }

    [Fact]
    public async Task BatchConsumerThrows_ItsMessagesAreReleased_AndAResendRunsThem()
    {
        await using var bus = await StartBatchAsync();
        Log(bus).FailuresLeft = 1;
        var payments = Payments(5);

        await SendAsync(bus, payments);
        await bus.ConsumedAsync<ChargePayment>(5);
        Assert.All(bus.Deliveries.Of<ChargePayment>(), e => Assert.IsType<InvalidOperationException>(e));
        await SendAsync(bus, payments);
        await bus.ConsumedAsync<ChargePayment>(10);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.Equal(10, Log(bus).Seen.Length); // the failed batch, then all five again
    }
}

public sealed class InMemoryBatchTests : BatchTests
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();
}
