using System.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Redis;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Cluster;

/// <summary>The filter (MassTransit test harness, in-memory transport) with its store on a three-master cluster.</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterFilterTests(RedisClusterFixture fixture) : BusTestBase, IDisposable
{
    const string ChannelPrefix = "cluster-filter:";

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(fixture.Cluster.ConnectionString);

    public void Dispose() => _connection.Dispose();

    protected override void AddStore(IServiceCollection services) =>
        services.Replace(ServiceDescriptor.Singleton<IDedupStore>(_ => new ObservedStore(RedisTestConnections.Store(_connection, ChannelPrefix))));

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    [Fact]
    public async Task CopiesOfMessagesOnEveryMaster_AtOnce_EachRunsOnce()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var payments = Enumerable.Range(0, 40).Select(_ => (Id: Guid.NewGuid(), Payment: new ChargePayment(Guid.NewGuid(), 1m))).ToArray();

        await Task.WhenAll(payments.SelectMany(p => Enumerable.Range(0, 4).Select(_ => Publish(bus, p.Payment, p.Id))));
        await bus.ConsumedAsync<ChargePayment>(payments.Length * 4);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        Assert.Equal(
            fixture.Cluster.Masters.Select(m => m.EndPoint).Order(StringComparer.Ordinal),
            bus.Ledger.Claims.Select(c => ClusterPlacement.MasterOf(_connection, c!.Key)).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task CopiesWaitingOnKeysOfOtherMasters_AreWokenByTheCompletions_NotByTheLease()
    {
        await using var bus = await StartAsync(o =>
        {
            o.Lease = TimeSpan.FromSeconds(30);
            o.InFlightWait = TimeSpan.FromSeconds(60);
        });
        var store = (ObservedStore)bus.Provider.GetRequiredService<IDedupStore>();
        bus.Ledger.HoldConsumers = true;
        var payments = Enumerable.Range(0, 10).Select(_ => (Id: Guid.NewGuid(), Payment: new ChargePayment(Guid.NewGuid(), 1m))).ToArray();

        // Three copies each: one holds its claim until the gate opens, two wait (30 deliveries, within the harness's 32).
        await Task.WhenAll(payments.SelectMany(p => Enumerable.Range(0, 3).Select(_ => Publish(bus, p.Payment, p.Id))));
        await store.WatchesRegistered(payments.Length * 2).WaitAsync(TimeSpan.FromSeconds(30));
        var released = Stopwatch.StartNew();
        bus.Ledger.Gate.TrySetResult();
        await bus.ConsumedAsync<ChargePayment>(payments.Length * 3);

        // A waiter that missed its notification would sleep until the holder's 30 s lease ran out.
        Assert.InRange(released.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        var subscription = ClusterPlacement.SubscriptionOf(_connection, ChannelPrefix);
        Assert.Contains(bus.Ledger.Claims, c => ClusterPlacement.MasterOf(_connection, c!.Key) != subscription);
    }
}
