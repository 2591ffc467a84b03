using System.Diagnostics;
using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>
/// A request whose dedup step failed transiently goes back to the broker: the requester waits for the real reply and
/// never sees a fault, and no <c>Fault&lt;T&gt;</c> is published (issue 9, item 12).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(RabbitMqRequestOutageCollection.Name)]
public sealed class TransientRequestTests(RabbitMqFixture rabbit, ITestOutputHelper output)
{
    const int Iterations = 3; // one per outage length (2, 2.5 and 3 s)

    /// <param name="failure">
    /// <c>stopped</c>: Redis is stopped, a claim fails after the client's timeout (2 s here);
    /// <c>full</c>: Redis is at maxmemory with noeviction, a claim fails at once.
    /// </param>
    /// <param name="withRetry">With <c>UseMessageRetry(r => r.Immediate(2))</c> on the endpoint.</param>
    /// <remarks>
    /// Per request Redis fails for 2 to 3 s after the request is sent, and at least until one claim has failed. Each
    /// iteration waits until its request was acknowledged before Redis fails again: a failure between the reply and
    /// the completion is the documented "side effect ran, completion did not" window, not this test's subject.
    /// </remarks>
    [Theory]
    [InlineData("stopped", false)]
    [InlineData("stopped", true)]
    [InlineData("full", false)]
    [InlineData("full", true)]
    public async Task RequestWhileRedisFails_GetsTheRealReply_AndNoFault(string failure, bool withRetry)
    {
        await using var redisServer = await RedisServer.StartAsync();
        await using var bus = await RabbitBus.StartAsync<QuoteConsumer>(rabbit.Server, redisServer, o => o.StoreRetries = 0, endpoint: (e, _) =>
        {
            if (withRetry)
                e.UseMessageRetry(r => r.Immediate(2));
        });
        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var receives = new ReceiveProbe();
        bus.Bus.ConnectReceiveObserver(receives);
        await using var faults = await FaultProbe.StartAsync<QuoteRequest>(bus.Bus, "faults-" + bus.Queue);
        var failures = new List<string>();

        for (var i = 0; i < Iterations; i++)
        {
            var storeErrors = StoreErrors(outcomes);
            await FailAsync(redisServer, failure);
            var sent = Stopwatch.StartNew();
            var request = bus.RequestAsync<QuoteRequest, QuoteReply>(new QuoteRequest("plum-" + i, 1), Guid.NewGuid(), TimeSpan.FromSeconds(60));
            await WaitUntil(() => StoreErrors(outcomes) > storeErrors || request.IsCompleted);
            var outage = TimeSpan.FromMilliseconds(2000 + (i % 3) * 500) - sent.Elapsed;
            if (outage > TimeSpan.Zero)
                await Task.WhenAny(request, Task.Delay(outage));
            await RecoverAsync(redisServer, failure);
            try
            {
                var reply = await request;
                if (reply.Message.Sku != "plum-" + i)
                    failures.Add($"iteration {i}: the reply of another request ({reply.Message.Sku})");
            }
            catch (RequestFaultException fault)
            {
                failures.Add($"iteration {i} after {sent.Elapsed.TotalSeconds:0.0} s: fault {fault.Fault?.Exceptions[0].ExceptionType}: {fault.Fault?.Exceptions[0].Message}");
            }

            await WaitUntil(() => receives.FinishedOn(bus.Queue).Count(f => f is null) >= i + 1); // acknowledged
            if (bus.Ledger.TotalRuns != i + 1)
                failures.Add($"iteration {i}: {bus.Ledger.TotalRuns} runs in all, expected {i + 1}");
        }

        output.WriteLine($"{Iterations} requests, {StoreErrors(outcomes)} failed claims, {receives.FinishedOn(bus.Queue).Count(f => f is not null)} deliveries returned to the broker, {faults.Count} faults published");
        foreach (var line in failures)
            output.WriteLine(line);
        Assert.Empty(failures);
        Assert.Equal(0, faults.Count);
        Assert.Equal(0, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    static async Task FailAsync(RedisServer redis, string failure)
    {
        if (failure == "stopped")
        {
            await redis.StopAsync();
            return;
        }

        await redis.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await redis.CliAsync("CONFIG", "SET", "maxmemory", "1");
    }

    static async Task RecoverAsync(RedisServer redis, string failure)
    {
        if (failure == "stopped")
            await redis.RestartAsync();
        else
            await redis.CliAsync("CONFIG", "SET", "maxmemory", "0");
    }

    static int StoreErrors(List<string> outcomes)
    {
        lock (outcomes)
            return outcomes.Count(o => o == DedupOutcomes.StoreError);
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
            await Task.Delay(20, timeout.Token);
    }
}
