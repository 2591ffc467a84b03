using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>
/// A quorum queue with a <c>x-delivery-limit</c> drops (or dead-letters) a message returned more often than the
/// limit; a Redis outage must not use that budget up (issue 9, item 13).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(RabbitMqRequestOutageCollection.Name)]
public sealed class QuorumQueueTests(RabbitMqFixture rabbit, ITestOutputHelper output)
{
    const int DeliveryLimit = 3;

    /// <param name="failure">
    /// <c>full</c>: Redis at maxmemory (noeviction), each claim fails at once; <c>stopped</c>: Redis down, each claim
    /// fails after the client's timeout (about 5 s a delivery here).
    /// </param>
    [Theory]
    [InlineData("full")]
    [InlineData("stopped")]
    public async Task DeliveryLimit_RedisFailingForMoreDeliveriesThanTheLimit_MessageSurvivesAndRunsOnce(string failure)
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o =>
        {
            o.RedeliveryDelay = TimeSpan.FromMilliseconds(50);
            o.MaxRedeliveryDelay = TimeSpan.FromMilliseconds(400);
            o.StoreRetries = 0;
        }, endpoint: (e, _) =>
        {
            e.SetQuorumQueue();
            e.SetQueueArgument("x-delivery-limit", DeliveryLimit);
        });
        var payment = new ChargePayment(Guid.NewGuid(), 1m);

        if (failure == "stopped")
        {
            await redisServer.StopAsync();
        }
        else
        {
            await redisServer.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
            await redisServer.CliAsync("CONFIG", "SET", "maxmemory", "1");
        }

        // Through the queue's exchange: a "queue:" address would declare the queue again as a classic one.
        var endpoint = await bus.Bus.GetSendEndpoint(new Uri("exchange:" + bus.Queue));
        await endpoint.Send(payment, ctx => ctx.MessageId = Guid.NewGuid());
        await WaitForDeliveries(bus, DeliveryLimit + 3); // more than the broker allows one message
        output.WriteLine($"{bus.Deliveries.Of<ChargePayment>().Count} deliveries while Redis was {failure}");

        if (failure == "stopped")
            await redisServer.RestartAsync();
        else
            await redisServer.CliAsync("CONFIG", "SET", "maxmemory", "0");
        await WaitUntil(() => bus.Ledger.RunsOf(payment.PaymentId) > 0);
        await WaitUntil(async () => await rabbit.Server.QueueMessageCountAsync(bus.Queue) == 0);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    async Task WaitForDeliveries(RabbitBus bus, int count)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (bus.Deliveries.Of<ChargePayment>().Count < count)
        {
            try
            {
                await Task.Delay(50, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                var left = await rabbit.Server.QueueMessageCountAsync(bus.Queue);
                throw new TimeoutException(
                    $"The message was delivered {bus.Deliveries.Of<ChargePayment>().Count} times, then no more within 60 s; {left} message(s) left in the queue (delivery limit {DeliveryLimit}).");
            }
        }
    }

    static Task WaitUntil(Func<bool> condition) => WaitUntil(() => Task.FromResult(condition()));

    static async Task WaitUntil(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!await condition())
            await Task.Delay(50, timeout.Token);
    }
}
