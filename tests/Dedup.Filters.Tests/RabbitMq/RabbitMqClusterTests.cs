using Dedup.Filters.Tests.Cluster;
using Dedup.Filters.Tests.Filter;
using Dedup.Testing;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>The filter end to end on a real RabbitMQ with its store on a three-master Redis Cluster.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RabbitMqClusterTests(RabbitMqFixture rabbit, RedisClusterFixture cluster)
{
    [Fact]
    public async Task CopiesOfMessagesOnEveryMaster_SentAtOnce_EachRunsOnce()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, cluster.Cluster.ConnectionString,
            o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var payments = Enumerable.Range(0, 40).Select(_ => (Id: Guid.NewGuid(), Payment: new ChargePayment(Guid.NewGuid(), 1m))).ToArray();

        await Task.WhenAll(payments.SelectMany(p => Enumerable.Range(0, 4).Select(_ => bus.SendAsync(p.Payment, p.Id))));
        await bus.Deliveries.WaitAsync<ChargePayment>(payments.Length * 4);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        Assert.Equal(
            cluster.Cluster.Masters.Select(m => m.EndPoint).Order(StringComparer.Ordinal),
            bus.Ledger.Claims.Select(c => ClusterPlacement.MasterOf(bus.Redis, c!.Key)).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }
}
