using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>A message whose dedup step keeps failing is returned with a growing delay, not in a hot loop (issue 9, item 12).</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(RabbitMqRequestOutageCollection.Name)]
public sealed class RedeliveryBackoffTests(RabbitMqFixture rabbit, ITestOutputHelper output)
{
    /// <param name="failure">
    /// <c>stopped</c>: Redis is down, so each claim also waits for the client's timeout (2 s here);
    /// <c>full</c>: Redis answers at once with OOM (maxmemory, noeviction), the fastest failure there is.
    /// </param>
    [Theory]
    [InlineData("stopped")]
    [InlineData("full")]
    public async Task RedisFailing_RedeliveryDelayZero_RedeliveriesAreBounded(string failure)
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redisServer, o =>
        {
            o.RedeliveryDelay = TimeSpan.Zero;
            o.StoreRetries = 0;
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

        await bus.SendAsync(payment, Guid.NewGuid());
        await bus.Deliveries.WaitAsync<ChargePayment>(1);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the measuring window, not a synchronisation
        var deliveries = bus.Deliveries.Of<ChargePayment>().Count;
        output.WriteLine($"Redis {failure}: {deliveries} deliveries within 3 s of the first");

        Assert.True(deliveries <= 10, $"{deliveries} deliveries within 3 s of the first one while Redis was {failure}");
        Assert.All(bus.Deliveries.Of<ChargePayment>(), e => Assert.IsType<DedupStoreUnavailableException>(e));
        Assert.Equal(0, bus.Ledger.RunsOf(payment.PaymentId));
    }
}

/// <summary>The backoff itself, without a broker.</summary>
public sealed class RedeliveryBackoffDelayTests
{
    [Theory]
    [InlineData(0, 1, 50)]
    [InlineData(0, 2, 100)]
    [InlineData(0, 6, 1600)]
    [InlineData(1000, 1, 1000)]
    [InlineData(1000, 5, 16000)]
    [InlineData(1000, 6, 30000)]
    [InlineData(1000, int.MaxValue, 30000)]
    public void Delay_DoublesPerFailureFromAtLeast50Ms_UpToTheMaximum(int firstMs, int attempt, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs),
            Dedup.Pipeline.RedeliveryBackoff.Delay(TimeSpan.FromMilliseconds(firstMs), TimeSpan.FromSeconds(30), attempt));

    [Fact]
    public void Counter_CountsPerMessage_FromWhatTheDeliveryKnows_AndForgets()
    {
        var counter = new Dedup.Pipeline.RedeliveryCounter();
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());

        Assert.Equal(1, counter.Next(a, knownBefore: 0));
        Assert.Equal(2, counter.Next(a, knownBefore: 1));
        Assert.Equal(4, counter.Next(b, knownBefore: 3)); // a quorum queue's delivery count from another process
        counter.Forget(a);
        Assert.Equal(1, counter.Next(a, knownBefore: 0));
        Assert.Equal(3, counter.Next(null, knownBefore: 2));
    }

    [Fact]
    public void MaxRedeliveryDelay_BelowRedeliveryDelay_FailsValidationNamingBoth()
    {
        var result = new DedupOptionsValidator().Validate(null, new DedupOptions
        {
            RedeliveryDelay = TimeSpan.FromSeconds(5),
            MaxRedeliveryDelay = TimeSpan.FromSeconds(1),
        });

        Assert.True(result.Failed);
        Assert.Contains("Dedup:MaxRedeliveryDelay must be at least Dedup:RedeliveryDelay (00:00:05)", result.FailureMessage, StringComparison.Ordinal);
    }
}
