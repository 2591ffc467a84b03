using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>What happens to sends and publishes of a failed attempt and of a duplicate (README, "Sends and publishes").</summary>
public sealed class OutgoingMessagesTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    [Fact]
    public async Task WithoutOutbox_AFailedAttemptHasAlreadyPublished_ADuplicatePublishesNothing()
    {
        await using var bus = await StartAsync(consumers: x => x.AddConsumer<NotifyingConsumer>(), bus: (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(3)));
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, bus.Harness.Published.Select<PaymentCharged>().Count());
    }

    [Fact]
    public async Task WithInMemoryOutbox_AFailedAttemptPublishesNothing()
    {
        await using var bus = await StartAsync(consumers: x => x.AddConsumer<NotifyingConsumer>(), bus: (cfg, context) =>
        {
            cfg.UseMessageRetry(r => r.Immediate(3));
            cfg.UseInMemoryOutbox(context);
        });
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Single(bus.Harness.Published.Select<PaymentCharged>());
    }
}
