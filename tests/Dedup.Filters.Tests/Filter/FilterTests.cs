using Dedup.Diagnostics;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>A MassTransit test harness bus (in-memory transport) with the dedup filter on the store under test.</summary>
public abstract class BusTestBase
{
    /// <summary>Registers the store under test.</summary>
    protected abstract void AddStore(IServiceCollection services);

    /// <summary>Removes a key behind the protocol's back (an operator's DEL).</summary>
    protected abstract Task RemoveKeyAsync(IServiceProvider provider, string key);

    protected async Task<TestBus> StartAsync(Action<DedupOptions>? configure = null, Action<IBusRegistrationConfigurator>? consumers = null,
        Action<IInMemoryBusFactoryConfigurator, IBusRegistrationContext>? bus = null, bool dedupFirst = false, Action<IServiceCollection>? register = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Ledger>();
        services.AddSingleton<DeliveryCounter>();
        services.AddSingleton<PipelineState>();
        services.AddScoped<QuoteService>();
        services.AddScoped<UnitOfWork>();
        services.AddDedup(o =>
        {
            o.KeyPrefix = "filter-" + Guid.NewGuid().ToString("N")[..8] + ":";
            configure?.Invoke(o);
        });
        AddStore(services);
        register?.Invoke(services);
        services.AddMassTransitTestHarness(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(sp => sp.GetRequiredService<DeliveryCounter>());
            x.AddReceiveObserver(sp => sp.GetRequiredService<DeliveryCounter>());
            if (consumers is null)
                x.AddConsumer<ChargeConsumer>();
            else
                consumers(x);
            x.UsingInMemory((context, cfg) =>
            {
                cfg.ConcurrentMessageLimit = 32;
                if (dedupFirst)
                    cfg.UseDedup(context);
                bus?.Invoke(cfg, context);
                if (!dedupFirst)
                    cfg.UseDedup(context);
                cfg.ConfigureEndpoints(context);
            });
        });
        var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return new TestBus(provider, harness, provider.GetRequiredService<Ledger>(), provider.GetRequiredService<DeliveryCounter>());
    }

    protected static Task Publish(TestBus bus, object message, Guid messageId) =>
        bus.Harness.Bus.Publish(message, message.GetType(), ctx => ctx.MessageId = messageId);
}

/// <summary>The MassTransit filter on the test harness (in-memory transport), against every store.</summary>
public abstract class FilterTests : BusTestBase
{
    [Fact]
    public async Task SameMessageIdThreeTimes_RunsTheConsumerOnce()
    {
        await using var bus = await StartAsync();
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 10m));

        for (var i = 0; i < 3; i++)
        {
            await Publish(bus, payment, id);
            await bus.ConsumedAsync<ChargePayment>(i + 1);
        }

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(3, bus.Deliveries.Of<ChargePayment>().Count(e => e is null));
    }

    [Fact]
    public async Task TwentyCopiesAtOnce_RunTheConsumerOnce()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 20m));

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Publish(bus, payment, id)));
        await bus.ConsumedAsync<ChargePayment>(20);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(20, bus.Deliveries.Of<ChargePayment>().Count(e => e is null));
    }

    [Fact]
    public async Task DistinctMessageIds_EachRunOnce()
    {
        await using var bus = await StartAsync();
        var payments = Enumerable.Range(0, 10).Select(_ => new ChargePayment(Guid.NewGuid(), 1m)).ToArray();

        foreach (var payment in payments)
            await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(10);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.PaymentId)));
    }

    [Fact]
    public async Task ConsumerFailsTwiceThenSucceeds_RunsThreeTimesAndCompletesOnce()
    {
        await using var bus = await StartAsync(bus: (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(5)));
        bus.Ledger.FailuresLeft = 2;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(3, bus.Ledger.Claims.Count); // three attempts reached the consumer, the duplicate none
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        var epochs = bus.Ledger.Claims.Select(c => c!.Epoch).ToArray();
        Assert.Equal(epochs.Order().Distinct(), epochs); // each attempt a higher epoch
    }

    // Issue 9 item 2: the key's TTL was set at claim and complete only, so a consumer running longer than Retention lost
    // its key; the next copy claimed a fresh key with the same epoch and ran the work a second time.
    [Fact]
    public async Task ConsumerRunsLongerThanRetention_ACopyMidwayWaitsAndRunsNothing_AndEpochsKeepGrowingAfterExpiry()
    {
        // A 2 s lease (renewed every 0.67 s) rides out the scheduling stalls of a loaded 2-core machine; with 1 s a
        // late renewal lost the lease and the copy took the claim over.
        await using var bus = await StartAsync(o =>
        {
            o.Lease = TimeSpan.FromSeconds(2);
            o.Retention = TimeSpan.FromSeconds(3);
            o.InFlightWait = TimeSpan.FromSeconds(20);
        });
        bus.Ledger.HoldConsumers = true;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await Publish(bus, payment, id);
        var first = await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(3.5)); // past the retention window, while the consumer still runs
        await Publish(bus, payment, id);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        bus.Ledger.Gate.TrySetResult();              // the consumer finishes after about 5 s
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Single(bus.Ledger.Claims);

        await Task.Delay(TimeSpan.FromSeconds(3.5)); // the completed record expires
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(3);

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId)); // a copy after the retention window runs again
        var epochs = bus.Ledger.Claims.Select(c => c!.Epoch).ToArray();
        Assert.True(epochs[1] > epochs[0], $"epochs must grow across the key's expiry: {epochs[0]}, then {epochs[1]}");
        Assert.Equal(first!.Epoch, epochs[0]);
    }

    [Fact]
    public async Task LeaseLostWhileConsuming_CancelsTheConsumerAndRecordsNothing()
    {
        await using var bus = await StartAsync(o => o.Lease = TimeSpan.FromMilliseconds(300));
        bus.Ledger.HoldConsumers = true;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await Publish(bus, payment, id);
        var claim = await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await RemoveKeyAsync(bus.Provider, claim!.Key);
        await bus.ConsumedAsync<ChargePayment>(1);

        Assert.IsType<DedupLeaseLostException>(bus.Deliveries.Of<ChargePayment>().Single());
        Assert.True(claim.LeaseLost.IsCancellationRequested);
        Assert.Equal(0, bus.Ledger.RunsOf(payment.PaymentId));
        var store = bus.Provider.GetRequiredService<IDedupStore>();
        var after = await store.ClaimAsync(claim.Key, "probe", string.Empty, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), default);
        Assert.Equal(ClaimOutcome.Claimed, after.Outcome); // not completed: the redelivery will run it
    }

    [Fact]
    public async Task ConsumerSeesItsClaimWithEpochAndLeaseToken()
    {
        await using var bus = await StartAsync();

        await Publish(bus, new ChargePayment(Guid.NewGuid(), 1m), Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(1);

        var claim = Assert.Single(bus.Ledger.Claims);
        Assert.NotNull(claim);
        Assert.True(claim.Epoch > 0, $"epoch {claim.Epoch}");
        Assert.False(claim.TakenOver);
    }

    [Fact]
    public async Task NoMessageId_IsRejectedWithAClearError()
    {
        await using var bus = await StartAsync();

        await Publish(bus, new ChargePayment(Guid.NewGuid(), 1m), Guid.Empty);
        await bus.ConsumedAsync<ChargePayment>(1);

        var exception = Assert.IsType<DedupKeyException>(bus.Deliveries.Of<ChargePayment>().Single());
        Assert.Contains("has no MessageId", exception.Message, StringComparison.Ordinal);
        Assert.Equal(0, bus.Ledger.TotalRuns);
    }

    [Fact]
    public async Task NoMessageId_WithProcessPolicy_RunsUndeduplicated()
    {
        await using var bus = await StartAsync(o => o.MissingMessageId = MissingMessageIdPolicy.Process);
        var payment = new ChargePayment(Guid.NewGuid(), 1m);

        await Publish(bus, payment, Guid.Empty);
        await Publish(bus, payment, Guid.Empty);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task ExcludedMessageType_RunsEveryTime()
    {
        await using var bus = await StartAsync(o => o.Exclude<Heartbeat>(), x => x.AddConsumer<HeartbeatConsumer>());
        var id = Guid.NewGuid();

        await Publish(bus, new Heartbeat(1), id);
        await Publish(bus, new Heartbeat(1), id);
        await bus.ConsumedAsync<Heartbeat>(2);

        Assert.Equal(2, bus.Ledger.Heartbeats);
    }

    [Fact]
    public async Task CustomKey_DeduplicatesDifferentMessageIdsWithTheSameBusinessKey()
    {
        await using var bus = await StartAsync(o => o.KeyFor<ChargePayment>(m => m.PaymentId.ToString()));
        var payment = new ChargePayment(Guid.NewGuid(), 3m);

        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task OverLongCustomKey_IsRejectedNamingTheLimit()
    {
        await using var bus = await StartAsync(o => o.KeyFor<ChargePayment>(_ => new string('k', DedupKey.MaxCustomKeyLength + 1)));

        await Publish(bus, new ChargePayment(Guid.NewGuid(), 3m), Guid.NewGuid());
        await bus.ConsumedAsync<ChargePayment>(1);

        var exception = Assert.IsType<DedupKeyException>(bus.Deliveries.Of<ChargePayment>().Single());
        Assert.Contains("the limit is 4096", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SameIdWithAnotherPayload_IsAConflictAndDoesNotRun()
    {
        await using var bus = await StartAsync();
        var id = Guid.NewGuid();
        var payment = new ChargePayment(Guid.NewGuid(), 10m);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(1);
        await Publish(bus, payment with { Amount = 99m }, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        var conflict = bus.Deliveries.Of<ChargePayment>().OfType<DedupConflictException>().Single();
        Assert.NotEqual(conflict.Fingerprint, conflict.StoredFingerprint);
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task TwoConsumersOfOneMessage_EachRunOnce()
    {
        await using var bus = await StartAsync(consumers: x =>
        {
            x.AddConsumer<ChargeConsumer>();
            x.AddConsumer<AuditConsumer>();
        });
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(4);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty)); // the audit consumer's own scope
    }

    [Fact]
    public async Task Duplicates_AreCountedByOutcome()
    {
        await using var bus = await StartAsync();
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));

        await Publish(bus, payment, id);
        // The claim completes after the consume pipeline returned (the observer saw the consumer before that).
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.First);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);

        lock (outcomes)
        {
            Assert.Contains(DedupOutcomes.First, outcomes);
            Assert.Contains(DedupOutcomes.Duplicate, outcomes);
        }
    }
}

public sealed class TestBus(ServiceProvider provider, ITestHarness harness, Ledger ledger, DeliveryCounter deliveries) : IAsyncDisposable
{
    public ServiceProvider Provider { get; } = provider;

    public ITestHarness Harness { get; } = harness;

    public Ledger Ledger { get; } = ledger;

    public DeliveryCounter Deliveries { get; } = deliveries;

    /// <summary>Waits until <paramref name="count"/> deliveries of <typeparamref name="T"/> have gone through a consumer (ran, skipped or faulted).</summary>
    public Task ConsumedAsync<T>(int count)
        where T : class => Deliveries.WaitAsync<T>(count);

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await Provider.DisposeAsync();
    }
}
