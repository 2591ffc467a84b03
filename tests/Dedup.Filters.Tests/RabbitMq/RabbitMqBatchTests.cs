using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>A batch consumer on a real RabbitMQ (issue 9, item 8): each message is acknowledged after the batch ran.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RabbitMqBatchTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    [Fact]
    public async Task MixedBatch_RunsOnlyTheNewMessages_AndAcknowledgesEveryMessage()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeBatchConsumer>(rabbit.Server, redis.Server,
            consumer: c => c.Options<BatchOptions>(o => o.SetMessageLimit(5).SetTimeLimit(ms: 300)));
        var log = bus.Provider.GetRequiredService<BatchLog>();
        var processed = Payments(3);
        var fresh = Payments(2);

        foreach (var (id, payment) in processed)
            await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(3);
        var before = log.Batches.Count;
        foreach (var (id, payment) in new[] { processed[0], fresh[0], processed[1], processed[2], fresh[1] })
            await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(8);

        Assert.Equal(fresh.Select(p => p.Payment.PaymentId).Order(), log.Batches.Skip(before).SelectMany(b => b).Order());
        Assert.All(processed.Concat(fresh), p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
        await WaitUntil(async () => await rabbit.Server.QueueMessageCountAsync(bus.Queue) == 0);
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    static (Guid Id, ChargePayment Payment)[] Payments(int count) =>
        [.. Enumerable.Range(0, count).Select(_ => (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m)))];

    static async Task WaitUntil(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await condition())
            await Task.Delay(50, timeout.Token);
    }
}
