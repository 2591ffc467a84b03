using Dedup.Diagnostics;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>Replay of stored replies to duplicate requests (issue 3), on the harness, against every store.</summary>
public abstract class ReplayTests : BusTestBase
{
    Task<TestBus> StartQuotesAsync(Action<DedupOptions>? configure = null) =>
        StartAsync(o =>
        {
            o.InFlightWait = TimeSpan.FromSeconds(30);
            configure?.Invoke(o);
        }, x => x.AddConsumer<QuoteConsumer>());

    static Task<Response<QuoteReply>> Request(TestBus bus, QuoteRequest request, Guid messageId, TimeSpan? timeout = null)
    {
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: (int)(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds));
        return client.GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
    }

    [Fact]
    public async Task RequestSentTwiceWithTheSameMessageId_GetsTheSameReply_AndRunsOnce()
    {
        await using var bus = await StartQuotesAsync();
        var id = Guid.NewGuid();

        var first = await Request(bus, new QuoteRequest("apple", 2), id);
        var second = await Request(bus, new QuoteRequest("apple", 2), id);

        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        Assert.NotEqual(first.RequestId, second.RequestId); // answered with the duplicate's own RequestId
    }

    [Fact]
    public async Task TenConcurrentCopiesOfARequest_AllGetTheReply_AndRunOnce()
    {
        await using var bus = await StartQuotesAsync();
        var id = Guid.NewGuid();

        var replies = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Request(bus, new QuoteRequest("pear", 3), id)));

        Assert.Single(replies.Select(r => r.Message.QuoteId).Distinct());
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task ReplyOverTheSizeLimit_IsNotStored_AndTheDuplicateIsSkippedWithoutAnswer()
    {
        await using var bus = await StartQuotesAsync(o => o.MaxReplyBytes = 16);
        var id = Guid.NewGuid();

        await Request(bus, new QuoteRequest("melon", 1), id);
        await Assert.ThrowsAsync<RequestTimeoutException>(() => Request(bus, new QuoteRequest("melon", 1), id, TimeSpan.FromSeconds(2)));

        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task ConflictingPayload_FaultsWithItsReason_AndGetsNoStoredReply()
    {
        await using var bus = await StartQuotesAsync();
        var id = Guid.NewGuid();

        await Request(bus, new QuoteRequest("kiwi", 1), id);
        var fault = await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("kiwi", 500), id));

        Assert.Contains("Dedup conflict", fault.Fault!.Exceptions[0].Message, StringComparison.Ordinal);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task ConflictSkipPolicy_AcknowledgesWithoutRunningOrAnswering()
    {
        await using var bus = await StartQuotesAsync(o => o.OnConflict = ConflictPolicy.Skip);
        var id = Guid.NewGuid();

        await Request(bus, new QuoteRequest("fig", 1), id);
        await Assert.ThrowsAsync<RequestTimeoutException>(() => Request(bus, new QuoteRequest("fig", 2), id, TimeSpan.FromSeconds(2)));

        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task ConflictProcessAsNewPolicy_RunsTheConsumerAgain()
    {
        await using var bus = await StartQuotesAsync(o => o.OnConflict = ConflictPolicy.ProcessAsNew);
        var id = Guid.NewGuid();

        var first = await Request(bus, new QuoteRequest("lime", 1), id);
        var second = await Request(bus, new QuoteRequest("lime", 2), id);

        Assert.NotEqual(first.Message.QuoteId, second.Message.QuoteId);
        Assert.Equal(2, bus.Ledger.RunsOf(Guid.Empty));
    }

    [Fact]
    public async Task FailedAttempt_StoresNoReply_AndTheRetryAnswers()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30), x => x.AddConsumer<QuoteConsumer>(),
            (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(3)));
        bus.Ledger.FailuresLeft = 1;
        var id = Guid.NewGuid();

        var first = await Request(bus, new QuoteRequest("plum", 1), id);
        var second = await Request(bus, new QuoteRequest("plum", 1), id);

        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        Assert.Equal(2, bus.Ledger.Claims.Count); // the failed attempt and the successful retry
    }

    [Fact]
    public async Task WithRecordFaults_ADuplicateOfAFailedRequestGetsTheSameFault_AndDoesNotRun()
    {
        await using var bus = await StartQuotesAsync(o => o.RecordFaults = true);
        bus.Ledger.FailuresLeft = 100;
        var id = Guid.NewGuid();

        var outcomes = new List<string>();
        using var listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());

        var first = await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("fig", 1), id));
        // The requester's Fault is sent by the consume pipe, before the error pipe records it: wait for the record.
        await MetricsListener.WaitForAsync(outcomes, Diagnostics.DedupOutcomes.FaultRecorded);
        var second = await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("fig", 1), id));

        Assert.Single(bus.Ledger.Claims); // the consumer ran for the first copy only
        Assert.Equal(first.Fault!.Exceptions[0].Message, second.Fault!.Exceptions[0].Message);
        Assert.Contains("quote failed (test)", second.Fault.Exceptions[0].Message, StringComparison.Ordinal);
    }

    // The fault was recorded by a new claim after the error pipe, once the failed claim had been released: a copy that
    // arrived in between claimed the key first and ran the consumer again.
    [Fact]
    public async Task WithRecordFaults_ACopyArrivingWhileTheFailedDeliveryIsInTheErrorPipe_GetsTheFault_AndDoesNotRun()
    {
        var errorPipe = new SlowErrorFilter();
        await using var bus = await StartAsync(o =>
            {
                o.InFlightWait = TimeSpan.FromSeconds(30);
                o.RecordFaults = true;
            },
            x =>
            {
                x.AddConsumer<QuoteConsumer>().Endpoint(e => e.ConcurrentMessageLimit = 8);
                x.AddConfigureEndpointsCallback((_, e) => e.ConfigureError(p => p.UseFilter(errorPipe)));
            });
        bus.Ledger.FailuresLeft = 100;
        errorPipe.Until = () => bus.Ledger.Claims.Count >= 2;
        var id = Guid.NewGuid();

        // The requester's Fault is sent from the consume pipe, before the error pipe runs: the copy goes out while
        // the first delivery is held in the error pipe.
        var first = await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("fig", 1), id));
        var second = await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("fig", 1), id));

        Assert.Single(bus.Ledger.Claims); // the consumer ran for the first copy only
        Assert.Equal(first.Fault!.Exceptions[0].Message, second.Fault!.Exceptions[0].Message);
    }

    /// <summary>Holds the first delivery that reaches the error pipe until a condition holds or 500 ms passed.</summary>
    sealed class SlowErrorFilter : IFilter<ExceptionReceiveContext>
    {
        int _held;

        public Func<bool> Until { get; set; } = () => true;

        public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
        {
            if (Interlocked.Exchange(ref _held, 1) == 0)
            {
                var deadline = DateTime.UtcNow.AddMilliseconds(500);
                while (!Until() && DateTime.UtcNow < deadline)
                    await Task.Delay(10);
            }

            await next.Send(context);
        }

        public void Probe(ProbeContext context)
        {
        }
    }

    [Fact]
    public async Task WithoutRecordFaults_ADuplicateOfAFailedRequestRunsAgain()
    {
        await using var bus = await StartQuotesAsync();
        bus.Ledger.FailuresLeft = 1;
        var id = Guid.NewGuid();

        await Assert.ThrowsAsync<RequestFaultException>(() => Request(bus, new QuoteRequest("fig", 1), id));
        var second = await Request(bus, new QuoteRequest("fig", 1), id);

        Assert.Equal(2, bus.Ledger.Claims.Count);
        Assert.Equal("fig", second.Message.Sku);
    }
}

public sealed class InMemoryReplayTests : ReplayTests
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();
}
