using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>The filter end to end: MassTransit on a real RabbitMQ, the store on a real Redis.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RabbitMqEndToEndTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    [Fact]
    public async Task SameMessageIdSentThreeTimes_RunsTheConsumerOnce()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server);
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 10m));

        for (var i = 0; i < 3; i++)
            await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(3);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    [Fact]
    public async Task TwentyCopiesAtOnce_RunTheConsumerOnce()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 20m));

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => bus.SendAsync(payment, id)));
        await bus.Deliveries.WaitAsync<ChargePayment>(20);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task ConsumerFailsTwiceThenSucceeds_RunsThreeTimesAndCompletesOnce()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server,
            endpoint: (e, _) => e.UseMessageRetry(r => r.Immediate(5)));
        bus.Ledger.FailuresLeft = 2;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(2);

        var epochs = bus.Ledger.Claims.Select(c => c!.Epoch).ToArray();
        Assert.Equal(3, epochs.Length);
        Assert.Equal(epochs.Order().Distinct(), epochs); // each attempt a higher epoch
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }

    [Fact]
    public async Task LeaseLost_CancelsTheConsumer_AndTheRedeliveryRunsItOnce()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, o => o.Lease = TimeSpan.FromMilliseconds(600));
        bus.Ledger.HoldConsumers = true;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));

        await bus.SendAsync(payment, id);
        var claim = await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await bus.Redis.GetDatabase().KeyDeleteAsync(claim!.Key);
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        Assert.IsType<DedupLeaseLostException>(bus.Deliveries.Of<ChargePayment>()[0]);
        Assert.True(claim.LeaseLost.IsCancellationRequested);

        bus.Ledger.Gate.SetResult(); // the redelivered copy may now finish
        await bus.Deliveries.WaitAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    [Fact]
    public async Task DuplicateInFlightPastTheWait_IsRedeliveredNotErrored_ThenSkipped()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromMilliseconds(300));
        bus.Ledger.HoldConsumers = true;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 5m));
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());

        await bus.SendAsync(payment, id);
        await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await bus.SendAsync(payment, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(1); // the duplicate timed out waiting
        Assert.IsType<DedupInFlightTimeoutException>(bus.Deliveries.Of<ChargePayment>()[0]);

        bus.Ledger.Gate.SetResult();
        await WaitUntil(() => bus.Deliveries.Of<ChargePayment>().Count(e => e is null) >= 2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
        lock (outcomes)
            Assert.Contains(DedupOutcomes.InFlightTimeout, outcomes);
    }

    [Fact]
    public async Task RedisStopped_MessageIsNotLost_AndRunsOnceWhenRedisIsBack()
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer);
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 7m));

        await redisServer.StopAsync();
        await bus.SendAsync(payment, id);
        await WaitUntil(() => { lock (outcomes) return outcomes.Contains(DedupOutcomes.StoreError); });
        Assert.Equal(0, bus.Ledger.RunsOf(payment.PaymentId));

        await redisServer.RestartAsync();
        await WaitUntil(() => bus.Ledger.RunsOf(payment.PaymentId) > 0);
        await bus.SendAsync(payment, id);
        await WaitUntil(() => bus.Deliveries.Of<ChargePayment>().Count(e => e is null) >= 2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    [Fact]
    public async Task ScriptFlushDuringTraffic_IsInvisible()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server, o => o.InFlightWait = TimeSpan.FromSeconds(30));
        var payments = Enumerable.Range(0, 100).Select(_ => (Id: Guid.NewGuid(), Payment: new ChargePayment(Guid.NewGuid(), 1m))).ToArray();

        var sending = Task.Run(async () =>
        {
            foreach (var (id, payment) in payments.Concat(payments))
                await bus.SendAsync(payment, id);
        });
        for (var i = 0; i < 5; i++)
        {
            await redis.Server.CliAsync("SCRIPT", "FLUSH");
            await Task.Delay(50);
        }

        await sending;
        await bus.Deliveries.WaitAsync<ChargePayment>(200);

        Assert.All(payments, p => Assert.Equal(1, bus.Ledger.RunsOf(p.Payment.PaymentId)));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    [Fact]
    public async Task MessageWithoutMessageId_GoesToTheErrorQueueWithItsReason()
    {
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server);

        await bus.SendAsync(new ChargePayment(Guid.NewGuid(), 1m), Guid.Empty);
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        await WaitUntil(async () => await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error") == 1);

        Assert.IsType<DedupKeyException>(bus.Deliveries.Of<ChargePayment>()[0]);
    }

    static Task WaitUntil(Func<bool> condition) => WaitUntil(() => Task.FromResult(condition()));

    static async Task WaitUntil(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!await condition())
            await Task.Delay(50, timeout.Token);
    }
}
