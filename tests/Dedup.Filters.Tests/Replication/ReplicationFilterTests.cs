using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Replication;

/// <summary><c>Dedup:Durability</c> through the MassTransit filter (test harness, in-memory transport) on a real primary and replica.</summary>
[Trait("Needs", "Redis")]
[Collection("replicated-redis")]
public sealed class ReplicationFilterTests(ReplicatedRedisFixture fixture) : BusTestBase
{
    readonly string _prefix = "repl-filter-" + Guid.NewGuid().ToString("N")[..8] + ":";
    string _connection = string.Empty;

    ReplicatedRedis Pair => fixture.Pair;

    protected override void AddStore(IServiceCollection services) =>
        services.AddDedupRedisStore($"{_connection},connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    [Fact]
    public async Task Failover_AfterADurableCompletion_TheCopyIsSkipped()
    {
        await Pair.RestoreAsync();
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 10m));
        _connection = Pair.PrimaryConnectionString;
        // Kept until the end: MassTransit's static log context still points at the first bus's logger factory.
        await using var before = await StartAsync(o => Options(o, durable: true));
        await Publish(before, payment, id);
        await before.Deliveries.ReceivedAsync(id, 1); // completed, confirmed and acknowledged
        Assert.Equal(1, before.Ledger.RunsOf(payment.PaymentId));

        await Pair.KillPrimaryAsync();
        await Pair.PromoteReplicaAsync();

        _connection = Pair.PrimaryConnectionString;
        await using var after = await StartAsync(o => Options(o, durable: false));
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, after.Provider.GetRequiredService<DedupMetrics>());
        await Publish(after, payment, id);
        await after.Deliveries.ReceivedAsync(id, 1);

        Assert.Equal(0, after.Ledger.RunsOf(payment.PaymentId));
        lock (outcomes)
            Assert.Contains(DedupOutcomes.Duplicate, outcomes);
    }

    [Fact]
    public async Task ReplicaFrozen_TheCompletionIsNotAcknowledged_AndTheRedeliveryIsADuplicateOnceConfirmed()
    {
        await Pair.RestoreAsync();
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 10m));
        _connection = Pair.PrimaryConnectionString;
        await using var bus = await StartAsync(o => Options(o, durable: true));
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());

        Pair.PauseReplica();
        await Publish(bus, payment, id);
        await bus.Deliveries.ReceivedAsync(id, 1);
        await Pair.ResumeReplicaAndCatchUpAsync();
        string[] first;
        lock (outcomes)
            first = [.. outcomes];
        // The redelivery: answered as a duplicate once the replica confirms the record. On a loaded machine the resumed
        // replica may need a moment to catch up (a copy before that is not acknowledged either), so copies are sent
        // until one is answered.
        for (var copy = 0; copy < 5 && !Seen(outcomes, DedupOutcomes.Duplicate); copy++)
        {
            await Publish(bus, payment, id);
            await bus.Deliveries.ReceivedAsync(id, 2 + copy);
        }

        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Duplicate);

        Assert.Equal([DedupOutcomes.NotReplicated], first); // not counted done (no "first"): not acknowledged as done
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    static bool Seen(List<string> outcomes, string outcome)
    {
        lock (outcomes)
            return outcomes.Contains(outcome);
    }

    void Options(DedupOptions options, bool durable)
    {
        options.KeyPrefix = _prefix;
        options.StoreRetries = 0;
        options.RedeliveryDelay = TimeSpan.Zero;
        if (!durable)
            return;
        options.Durability.Replicas = 1;
        options.Durability.Timeout = TimeSpan.FromSeconds(1);
    }
}
