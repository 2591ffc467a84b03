using Dedup.Diagnostics;
using Dedup.Protocol;
using Dedup.Stores;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>A store that cannot be reached, as the filter sees it (the Redis tests stop a real server).</summary>
public sealed class StoreFailureTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) =>
        services.AddSingleton<IDedupStore>(new UnreachableStore());

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    [Fact]
    public async Task FailClosed_DoesNotRunTheConsumer_AndFaultsAsTransient()
    {
        await using var bus = await StartAsync(o => o.StoreRetries = 0);
        var payment = new ChargePayment(Guid.NewGuid(), 1m);

        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(1);

        Assert.IsType<DedupStoreUnavailableException>(bus.Deliveries.Of<ChargePayment>().Single());
        Assert.Equal(0, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task FailOpen_RunsTheConsumerWithoutDedup_AndCountsIt()
    {
        await using var bus = await StartAsync(o =>
        {
            o.StoreRetries = 0;
            o.StoreFailure = StoreFailurePolicy.FailOpen;
        });
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId)); // no dedup while the store is down: the trade-off
        lock (outcomes)
            Assert.Equal(2, outcomes.Count(o => o == DedupOutcomes.FailOpen));
    }

    sealed class UnreachableStore : IDedupStore
    {
        static DedupStoreUnavailableException Down() => new("Redis did not answer (test store).");

        public ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken) =>
            ValueTask.FromException<ClaimResult>(Down());

        public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken) =>
            ValueTask.FromException<bool>(Down());

        public ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken) =>
            ValueTask.FromException<bool>(Down());

        public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
            ValueTask.FromException<bool>(Down());

        public KeyWatch Watch(string key) => new(key, null);
    }
}

/// <summary><c>UseDedup</c> on one receive endpoint only.</summary>
public sealed class EndpointScopeTests
{
    [Fact]
    public async Task UseDedupOnOneEndpoint_DeduplicatesThatEndpointOnly()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<DeliveryCounter>();
        services.AddDedup(o => o.KeyPrefix = "endpoint-" + Guid.NewGuid().ToString("N")[..8] + ":").AddDedupInMemoryStore();
        services.AddMassTransitTestHarness(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(sp => sp.GetRequiredService<DeliveryCounter>());
            x.AddConsumer<ChargeConsumer>();
            x.AddConsumer<AuditConsumer>();
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ReceiveEndpoint("charges", e =>
                {
                    e.UseDedup(context);
                    e.ConfigureConsumer<ChargeConsumer>(context);
                });
                cfg.ReceiveEndpoint("audit", e => e.ConfigureConsumer<AuditConsumer>(context));
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        var ledger = provider.GetRequiredService<Ledger>();
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await harness.Bus.Publish(payment, ctx => ctx.MessageId = id);
        await harness.Bus.Publish(payment, ctx => ctx.MessageId = id);
        await provider.GetRequiredService<DeliveryCounter>().WaitAsync<ChargePayment>(4);

        Assert.Equal(1, ledger.RunsOf(payment.PaymentId)); // deduplicated endpoint
        Assert.Equal(2, ledger.RunsOf(Guid.Empty));        // the audit endpoint has no dedup
        await harness.Stop();
    }
}
