using Dedup.Diagnostics;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Filter;

/// <summary>What the takeover checks of these tests answer, and what they were asked.</summary>
public sealed class TakeoverScript
{
    public Func<DedupTakeover, TakeoverVerdict> Answer { get; set; } = _ => TakeoverVerdict.NotApplied;

    public List<DedupTakeover> Asked { get; } = [];

    public TakeoverVerdict Ask(DedupTakeover takeover)
    {
        lock (Asked)
            Asked.Add(takeover);
        return Answer(takeover);
    }
}

public sealed class PaymentTakeoverCheck(TakeoverScript script) : IDedupTakeoverCheck<ChargePayment>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<ChargePayment> takeover, CancellationToken cancellationToken) =>
        Task.FromResult(script.Ask(takeover));
}

public sealed class QuoteTakeoverCheck(TakeoverScript script) : IDedupTakeoverCheck<QuoteRequest>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<QuoteRequest> takeover, CancellationToken cancellationToken) =>
        Task.FromResult(script.Ask(takeover));
}

/// <summary>
/// Issue 10, takeover verification through the filter: a worker "killed" after the consumer's side effect and before
/// the completion (<see cref="CrashingStore"/>) leaves a claim whose lease runs out; the next copy takes it over and
/// asks the registered check. Against every store.
/// </summary>
public abstract class TakeoverCheckTests : BusTestBase
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(300);

    CrashingStore? _store;

    protected abstract void AddInnerStore(IServiceCollection services);

    protected override void AddStore(IServiceCollection services)
    {
        AddInnerStore(services);
        var inner = services.Last(d => d.ServiceType == typeof(IDedupStore));
        services.Remove(inner);
        services.AddSingleton(sp => _store = new CrashingStore((IDedupStore)inner.ImplementationFactory!(sp)));
        services.AddSingleton<IDedupStore>(sp => sp.GetRequiredService<CrashingStore>());
    }

    CrashingStore Store => _store ?? throw new InvalidOperationException("the bus has not started");

    Task<TestBus> StartPaymentsAsync(TakeoverScript? script, List<string> outcomes, out Func<TestBus, IDisposable> listen)
    {
        listen = bus => MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        return StartAsync(o => o.Lease = Lease, register: services =>
        {
            if (script is null)
                return;
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
        });
    }

    /// <summary>Runs the payment once with the completion "crashed", then waits out the lease: the key is left in progress.</summary>
    async Task<(Guid Id, ChargePayment Payment)> RunAndCrashAsync(TestBus bus)
    {
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 12m));
        Store.Crashing = true;
        await Publish(bus, payment, id);
        await Store.Crashed.WaitAsync(TimeSpan.FromSeconds(30)); // the claim completes after the consumer returned
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Single(Store.CrashedEpochs);
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        return (id, payment);
    }

    // The window as it is without a check: the copy takes the claim over and the side effect runs again.
    [Fact]
    public async Task Takeover_WithoutACheck_RunsTheConsumerAgain()
    {
        var outcomes = new List<string>();
        await using var bus = await StartPaymentsAsync(null, outcomes, out var listen);
        using var _ = listen(bus);
        var (id, payment) = await RunAndCrashAsync(bus);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.First);

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
        lock (outcomes)
            Assert.Contains(DedupOutcomes.TakenOver, outcomes);
    }

    [Fact]
    public async Task Takeover_CheckFindsTheWorkApplied_CompletesWithoutRunning_AndLaterCopiesAreDuplicates()
    {
        var script = new TakeoverScript();
        var outcomes = new List<string>();
        await using var bus = await StartPaymentsAsync(script, outcomes, out var listen);
        using var _ = listen(bus);
        script.Answer = t => bus.Ledger.RunsOf(((DedupTakeover<ChargePayment>)t).Message.PaymentId) > 0 ? TakeoverVerdict.Applied() : TakeoverVerdict.NotApplied;
        var (id, payment) = await RunAndCrashAsync(bus);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Recovered);
        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(3);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Duplicate);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        var asked = Assert.Single(script.Asked);
        Assert.Equal(Store.CrashedEpochs[0], asked.PreviousEpoch);
        Assert.True(asked.Epoch > asked.PreviousEpoch, $"epoch {asked.Epoch} after {asked.PreviousEpoch}");
        var typed = Assert.IsType<DedupTakeover<ChargePayment>>(asked);
        Assert.Equal(payment, typed.Message);
        Assert.Equal(typeof(ChargeConsumer), typed.Owner);
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.TakenOver, ClaimOutcome.Duplicate], Store.Outcomes);
    }

    [Fact]
    public async Task Takeover_CheckSaysNotApplied_RunsTheConsumerUnderTheNewClaim()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.NotApplied };
        var outcomes = new List<string>();
        await using var bus = await StartPaymentsAsync(script, outcomes, out var listen);
        using var _ = listen(bus);
        var (id, payment) = await RunAndCrashAsync(bus);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.First);

        Assert.Equal(2, bus.Ledger.RunsOf(payment.PaymentId));
        var asked = Assert.Single(script.Asked);
        var claims = bus.Ledger.Claims.ToArray();
        Assert.Equal(asked.Epoch, claims[^1]!.Epoch); // the consumer ran under the claim the check was asked for
        Assert.True(claims[^1]!.TakenOver);
        lock (outcomes)
            Assert.DoesNotContain(DedupOutcomes.Recovered, outcomes);
    }

    [Fact]
    public async Task Takeover_CheckThrows_NothingRuns_AndTheNextCopyIsATakeoverThatAsksAgain()
    {
        var script = new TakeoverScript();
        var outcomes = new List<string>();
        await using var bus = await StartPaymentsAsync(script, outcomes, out var listen);
        using var _ = listen(bus);
        var calls = 0;
        script.Answer = _ => Interlocked.Increment(ref calls) == 1 ? throw new TimeoutException("ledger unreachable (test)") : TakeoverVerdict.Applied();
        var (id, payment) = await RunAndCrashAsync(bus);

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.TakeoverCheckFailed);
        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Recovered);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, script.Asked.Count);
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.TakenOver, ClaimOutcome.TakenOver], Store.Outcomes.Where(o => o != ClaimOutcome.Busy));
        Assert.Equal(script.Asked[0].Epoch, script.Asked[1].PreviousEpoch); // the abandoned claim was taken over
    }

    // A consumer that throws after its side effect releases its claim; the retry claims the key after that release
    // and must ask the check too, or the effect happens twice (found by the worker's reliability work, issue 10).
    [Fact]
    public async Task ConsumerThrowsAfterItsSideEffect_TheRetryAsksTheCheck_AndDoesNotRunItAgain()
    {
        var script = new TakeoverScript();
        var outcomes = new List<string>();
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<ChargeThenFailConsumer>(),
            bus: (cfg, _) => cfg.UseMessageRetry(r => r.Immediate(2)),
            register: services =>
            {
                services.AddSingleton(script);
                services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
            });
        using var _ = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        script.Answer = t => bus.Ledger.RunsOf(((DedupTakeover<ChargePayment>)t).Message.PaymentId) > 0 ? TakeoverVerdict.Applied() : TakeoverVerdict.NotApplied;
        bus.Ledger.FailuresLeft = 1;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 3m));

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Recovered);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        var asked = Assert.Single(script.Asked);
        Assert.Equal(bus.Ledger.Claims.Single()!.Epoch, asked.PreviousEpoch);
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.Claimed], Store.Outcomes);
    }

    [Fact]
    public async Task Takeover_OfARequest_TheCheckReturnsTheOriginalReply_TheRequesterAndEveryLaterDuplicateGetIt()
    {
        var script = new TakeoverScript();
        var outcomes = new List<string>();
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<QuoteConsumer>(), register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<QuoteRequest, QuoteTakeoverCheck>();
        });
        using var _ = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        var id = Guid.NewGuid();
        var request = new QuoteRequest("fig", 4);

        Store.Crashing = true;
        var original = await Request(bus, request, id);
        await Store.Crashed.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        script.Answer = _ => TakeoverVerdict.Applied(original.Message); // what the quote store kept
        var afterTakeover = await Request(bus, request, id);
        var later = await Request(bus, request, id);

        Assert.Equal(original.Message, afterTakeover.Message);
        Assert.Equal(original.Message, later.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        Assert.Single(script.Asked);
        lock (outcomes)
            Assert.Contains(DedupOutcomes.Recovered, outcomes);
    }

    static Task<Response<QuoteReply>> Request(TestBus bus, QuoteRequest request, Guid messageId)
    {
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: 30));
        return client.GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
    }
}

public sealed class InMemoryTakeoverCheckTests : TakeoverCheckTests
{
    protected override void AddInnerStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();
}

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisTakeoverCheckTests(RedisFixture redis) : TakeoverCheckTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = Redis.RedisTestConnections.Connect(redis.Server.ConnectionString);

    protected override void AddInnerStore(IServiceCollection services) => services.AddDedupRedisStore(_ => _connection);

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    public void Dispose() => _connection.Dispose();
}

/// <summary>Makes its side effect, then throws while the ledger says so: an effect followed by a failure.</summary>
public sealed class ChargeThenFailConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Claims.Enqueue(context.GetDedupClaim());
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
        if (Interlocked.Decrement(ref ledger.FailuresLeft) >= 0)
            throw new InvalidOperationException("failed after the side effect (test)");
        return Task.CompletedTask;
    }
}
