using Dedup.Diagnostics;
using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.Support;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.RedTeam;

public interface ITkChargeRequested
{
    Guid PaymentId { get; }
}

public sealed record TkPolyCharge(Guid PaymentId) : ITkChargeRequested;

/// <summary>One consumer of a message under two of its types (the concrete record and its interface).</summary>
public sealed class TkPolyConsumer(Ledger ledger) : IConsumer<TkPolyCharge>, IConsumer<ITkChargeRequested>
{
    public Task Consume(ConsumeContext<TkPolyCharge> context) => Run(context.Message.PaymentId);

    public Task Consume(ConsumeContext<ITkChargeRequested> context) => Run(context.Message.PaymentId);

    Task Run(Guid id)
    {
        ledger.Runs.AddOrUpdate(id, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

public sealed class TkPolyConcreteCheck(TakeoverScript script) : IDedupTakeoverCheck<TkPolyCharge>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<TkPolyCharge> takeover, CancellationToken cancellationToken) => Task.FromResult(script.Ask(takeover));
}

public sealed class TkPolyInterfaceCheck(TakeoverScript script) : IDedupTakeoverCheck<ITkChargeRequested>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<ITkChargeRequested> takeover, CancellationToken cancellationToken) => Task.FromResult(script.Ask(takeover));
}

/// <summary>A check slower than the lease that does not look at its token (a slow ledger query).</summary>
public sealed class SlowPaymentCheck(TakeoverScript script) : IDedupTakeoverCheck<ChargePayment>
{
    public static TimeSpan Delay { get; set; }

    public async Task<TakeoverVerdict> CheckAsync(DedupTakeover<ChargePayment> takeover, CancellationToken cancellationToken)
    {
        var verdict = script.Ask(takeover);
        await Task.Delay(Delay, CancellationToken.None);
        return verdict;
    }
}

public sealed class CapturedTakeoverCheck(TakeoverScript script) : IDedupTakeoverCheck<PaymentCaptured>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<PaymentCaptured> takeover, CancellationToken cancellationToken) => Task.FromResult(script.Ask(takeover));
}

/// <summary>A scoped service the scoped check depends on (README: the check is registered scoped).</summary>
public sealed class ScopedLedgerSession : IDisposable
{
    public bool Disposed { get; private set; }

    public void Dispose() => Disposed = true;
}

public sealed class ScopedDependencyCheck(TakeoverScript script, ScopedLedgerSession session) : IDedupTakeoverCheck<ChargePayment>
{
    public Task<TakeoverVerdict> CheckAsync(DedupTakeover<ChargePayment> takeover, CancellationToken cancellationToken) =>
        session.Disposed ? throw new ObjectDisposedException(nameof(ScopedLedgerSession)) : Task.FromResult(script.Ask(takeover));
}

/// <summary>
/// Red team, README "Closing the crash window: takeover verification" through MassTransit's consume pipeline (test
/// harness, in-memory store). A worker "killed" after the consumer's side effect and before the completion
/// (<see cref="CrashingStore"/>) leaves a claim whose lease runs out; the next copy takes it over and must ask the
/// registered check.
/// </summary>
public sealed class TakeoverRedTeamFilterTests : BusTestBase
{
    static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(600); // renewed every 200 ms: a loaded 2-core host delayed renewals past 300 ms

    CrashingStore? _crash;
    HookStore? _hook;

    protected override void AddStore(IServiceCollection services)
    {
        services.AddDedupInMemoryStore();
        var inner = services.Last(d => d.ServiceType == typeof(IDedupStore));
        services.Remove(inner);
        services.AddSingleton(sp => _crash = new CrashingStore((IDedupStore)inner.ImplementationFactory!(sp)));
        services.AddSingleton(sp => _hook = new HookStore(sp.GetRequiredService<CrashingStore>()));
        services.AddSingleton<IDedupStore>(sp => sp.GetRequiredService<HookStore>());
    }

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => throw new NotSupportedException();

    CrashingStore Crash => _crash ?? throw new InvalidOperationException("the bus has not started");

    static List<string> Outcomes(TestBus bus, out IDisposable listener)
    {
        var outcomes = new List<string>();
        listener = MetricsListener.Outcomes(outcomes, bus.Provider.GetRequiredService<DedupMetrics>());
        return outcomes;
    }

    /// <summary>Publishes the message once with the completion "crashed", then waits out the lease.</summary>
    async Task CrashFirstRunAsync(TestBus bus, object message, Guid id)
    {
        Crash.Crashing = true;
        await Publish(bus, message, id);
        await Crash.Crashed.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
    }

    static Task<Response<QuoteReply>> Request(TestBus bus, QuoteRequest request, Guid messageId, int timeoutSeconds = 10)
    {
        var client = bus.Harness.Bus.CreateRequestClient<QuoteRequest>(RequestTimeout.After(s: timeoutSeconds));
        return client.GetResponse<QuoteReply>(request, x => x.UseExecute(ctx => ctx.MessageId = messageId));
    }

    // Red team, broken before the fix (README table: "Applied(reply) → the claim is completed without running the consumer ... with the
    // reply, when given: the requester of this copy gets it NOW"). The recovered reply reaches the requester only by
    // replaying the stored record; when the reply is larger than MaxReplyBytes, ResultRecord.Encode stores a TooLarge
    // marker and ReplayAsync sends nothing. The consumer path sends its reply itself (only the record is too large); the
    // takeover path sends none: the requester of the copy that was just recovered times out. (Later duplicates missing
    // it is documented for MaxReplyBytes; this copy is not.)
    [Fact]
    public async Task AppliedWithAReplyOverMaxReplyBytes_TheRequesterOfThisCopyStillGetsIt()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(o =>
        {
            o.Lease = Lease;
            o.MaxReplyBytes = 64;
        }, x => x.AddConsumer<QuoteConsumer>(), register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<QuoteRequest, QuoteTakeoverCheck>();
        });
        var id = Guid.NewGuid();
        var request = new QuoteRequest("a-sku-with-a-long-name-" + new string('x', 100), 4);

        Crash.Crashing = true;
        var original = await Request(bus, request, id);
        await Crash.Crashed.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        script.Answer = _ => TakeoverVerdict.Applied(original.Message);

        var afterTakeover = await Request(bus, request, id, timeoutSeconds: 3);

        Assert.Equal(original.Message, afterTakeover.Message);
        Assert.Equal(1, bus.Ledger.RunsOf(Guid.Empty));
        Assert.Single(script.Asked);
    }

    // Red team, broken before the fix (README: "the check throws → transient, DedupTakeoverCheckException, NO Fault<T>"; for the executor a
    // verdict whose result has the wrong type is refused and the claim abandoned; ClaimCoordinator: "A check that throws
    // (or a verdict encode refuses) abandons the claim"). Through the filter the check's reply is not validated before
    // the key is COMPLETED: Applied("accepted") (a System.String, which MassTransit cannot send as a message) is
    // recorded, then the replay throws after the completion. The requester gets a Fault<QuoteRequest> instead of a
    // transient redelivery, and the completed record is poison: every later duplicate request faults the same way.
    [Fact]
    public async Task AppliedWithAReplyMassTransitCannotSend_IsRefusedLikeAFailingCheck_NoFaultAndTheNextCopyAsksAgain()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<QuoteConsumer>(), register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<QuoteRequest, QuoteTakeoverCheck>();
        });
        var id = Guid.NewGuid();
        var request = new QuoteRequest("fig", 4);

        Crash.Crashing = true;
        var original = await Request(bus, request, id);
        await Crash.Crashed.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        var calls = 0;
        script.Answer = _ => Interlocked.Increment(ref calls) == 1 ? TakeoverVerdict.Applied("accepted") : TakeoverVerdict.Applied(original.Message);

        var first = await Record.ExceptionAsync(() => Request(bus, request, id, timeoutSeconds: 2));
        await Task.Delay(TimeSpan.FromMilliseconds(100));
        Response<QuoteReply>? later = null;
        var laterFailure = await Record.ExceptionAsync(async () => later = await Request(bus, request, id, timeoutSeconds: 3));

        Assert.Multiple(
            // The in-memory transport cannot requeue: a transient failure goes to the error queue with its reason
            // (README, "What each failure leads to"), so this requester sees the refusal; over RabbitMQ it is redelivered.
            () => Assert.Contains("which MassTransit cannot send", Assert.IsType<RequestFaultException>(first).Message),
            () => Assert.Null(laterFailure), // the record completed with the unsendable reply must not poison later duplicates
            () => Assert.Equal(original.Message, later?.Message),
            () => Assert.Equal(2, script.Asked.Count));
    }

    // PASSING PROBE: one consumer takes the message as TkPolyCharge and as ITkChargeRequested (one owner, one key, one run
    // per delivery); with the check registered for the concrete type, MassTransit's concrete pass claims first and asks it.
    [Fact]
    public async Task ConsumerOfTheConcreteTypeAndItsInterface_CheckForTheConcreteType_IsAskedOnATakeover()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<TkPolyConsumer>(), register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<TkPolyCharge, TkPolyConcreteCheck>();
        });
        var (id, message) = (Guid.NewGuid(), new TkPolyCharge(Guid.NewGuid()));
        await CrashFirstRunAsync(bus, message, id);
        Assert.Equal(1, bus.Ledger.RunsOf(message.PaymentId));

        await Publish(bus, message, id);
        await bus.Harness.InactivityTask;
        await WaitUntil(() => script.Asked.Count > 0 || bus.Ledger.RunsOf(message.PaymentId) > 1, TimeSpan.FromSeconds(5));

        Assert.Equal(1, bus.Ledger.RunsOf(message.PaymentId));
        Assert.Single(script.Asked);
    }

    // Red team, broken before the fix (README: "with a takeover check registered for the message type, the check is asked first and a
    // 'yes, applied' completes the key without running the consumer"). The consumer consumes ITkChargeRequested, and the
    // check is registered for ITkChargeRequested (the contract type, as MassTransit users usually register). The same
    // consumer also consumes the concrete TkPolyCharge, whose pass MassTransit delivers first: that pass claims the
    // owner's key, ClaimLifecycle looks up IDedupTakeoverCheck<TkPolyCharge> only (the claiming pass's TMessage), finds
    // none and runs the consumer again; the ITkChargeRequested pass is then skipped as "the same owner, another type".
    // The registered check is never asked and the crashed owner's work runs twice.
    [Fact]
    public async Task ConsumerOfTheConcreteTypeAndItsInterface_CheckForTheInterface_IsAskedOnATakeover()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<TkPolyConsumer>(), register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ITkChargeRequested, TkPolyInterfaceCheck>();
        });
        var (id, message) = (Guid.NewGuid(), new TkPolyCharge(Guid.NewGuid()));
        await CrashFirstRunAsync(bus, message, id);
        Assert.Equal(1, bus.Ledger.RunsOf(message.PaymentId));

        await Publish(bus, message, id);
        await bus.Harness.InactivityTask;
        await WaitUntil(() => script.Asked.Count > 0 || bus.Ledger.RunsOf(message.PaymentId) > 1, TimeSpan.FromSeconds(5));

        Assert.Equal(1, bus.Ledger.RunsOf(message.PaymentId));
        Assert.Single(script.Asked);
    }

    // Red team, broken before the fix (README: the check "runs under the new claim, whose lease is renewed while it runs"; "the check throws,
    // or is cancelled → abandoned (lease cut to 1 ms, not released), so the next copy is a takeover too and asks again").
    // A check that outlives its claim (MaxRunTime here; a Redis blip stopping renewals past the local deadline does the
    // same) and still answers Applied: ActiveClaim.CompleteAsync finds the claim lost and RELEASES the key
    // (DedupLeaseLostException, transient: fine). The release drops the takeover: the next copy claims the key afresh,
    // the check is not asked, and the consumer runs the work the check had just found applied.
    [Fact]
    public async Task CheckOutlivesItsLease_AndAnswersApplied_TheNextCopyAsksAgain_AndTheConsumerDoesNotRun()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        SlowPaymentCheck.Delay = TimeSpan.Zero;
        await using var bus = await StartAsync(o =>
        {
            o.Lease = Lease;
            o.MaxRunTime = Lease;
        }, register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ChargePayment, SlowPaymentCheck>();
        });
        var outcomes = Outcomes(bus, out var listener);
        using var _ = listener;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 3m));
        await CrashFirstRunAsync(bus, payment, id);

        SlowPaymentCheck.Delay = Lease * 2;
        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.LeaseLost);
        SlowPaymentCheck.Delay = TimeSpan.Zero;
        await Task.Delay(TimeSpan.FromMilliseconds(50));
        await Publish(bus, payment, id); // the redelivery
        await WaitUntil(() => script.Asked.Count > 1 || bus.Ledger.RunsOf(payment.PaymentId) > 1, TimeSpan.FromSeconds(5));
        await bus.Harness.InactivityTask;

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, script.Asked.Count);
    }

    // PASSING PROBE: state machine saga. A takeover of the saga's claim asks the check registered for the event's type and
    // an Applied verdict leaves the instance untouched. (Note: DedupTakeover.Owner is the saga INSTANCE type PaymentState,
    // not the state machine PaymentStateMachine; the README says "the consumer or saga type", which fits.)
    [Fact]
    public async Task StateMachineSaga_Takeover_AsksTheCheck_AndAppliedLeavesTheInstanceAlone()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddSagaStateMachine<PaymentStateMachine, PaymentState>().InMemoryRepository(),
            register: services =>
            {
                services.AddSingleton(script);
                services.AddDedupTakeoverCheck<PaymentCaptured, CapturedTakeoverCheck>();
            });
        var (id, captured) = (Guid.NewGuid(), new PaymentCaptured(Guid.NewGuid()));
        await CrashFirstRunAsync(bus, captured, id);

        await Publish(bus, captured, id);
        await WaitUntil(() => script.Asked.Count > 0, TimeSpan.FromSeconds(5));
        await bus.Harness.InactivityTask;

        var saga = bus.Harness.GetSagaStateMachineHarness<PaymentStateMachine, PaymentState>();
        var instance = saga.Sagas.Contains(captured.PaymentId);
        Assert.NotNull(instance);
        Assert.Equal(1, instance.Captures);
        var asked = Assert.IsType<DedupTakeover<PaymentCaptured>>(Assert.Single(script.Asked));
        Assert.Equal(typeof(PaymentState), asked.Owner); // MassTransit's saga type for a state machine is the instance type
    }

    // PASSING PROBE: batch consumer. One message of the batch was "crashed"; the next batch carries it and a new one: the
    // check is asked for that message only, it is taken out of the batch, the new one runs.
    [Fact]
    public async Task BatchConsumer_TakeoverOfOneMessage_AsksTheCheck_AndOnlyTheNewMessageRuns()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        await using var bus = await StartAsync(o => o.Lease = Lease, x =>
        {
            x.AddSingleton<BatchLog>();
            x.AddConsumer<ChargeBatchConsumer>(c => c.Options<BatchOptions>(b => b.SetMessageLimit(2).SetTimeLimit(ms: 200)));
        }, register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
        });
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        await CrashFirstRunAsync(bus, payment, id);
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));

        var (newId, fresh) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 2m));
        await Publish(bus, payment, id);
        await Publish(bus, fresh, newId);
        await bus.ConsumedAsync<ChargePayment>(3);
        await WaitUntil(() => bus.Ledger.RunsOf(fresh.PaymentId) > 0, TimeSpan.FromSeconds(5));

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(1, bus.Ledger.RunsOf(fresh.PaymentId));
        Assert.Single(script.Asked);
        Assert.Equal(typeof(ChargeBatchConsumer), Assert.IsType<DedupTakeover<ChargePayment>>(script.Asked[0]).Owner);
    }

    // PASSING PROBE: a duplicate waiting (busy) on a holder that then dies (acked, never completed, renewals gone) takes
    // the claim over when the lease runs out and asks the check; Applied → the consumer does not run a second time.
    [Fact]
    public async Task DuplicateWaitingWhenTheHolderDies_TakesOver_AndAsksTheCheck()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.Applied() };
        await using var bus = await StartAsync(o =>
        {
            o.Lease = Lease;
            o.InFlightWait = TimeSpan.FromSeconds(5);
        }, register: services =>
        {
            services.AddSingleton(script);
            services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
        });
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        bus.Ledger.HoldConsumers = true;
        Crash.Crashing = true;

        await Publish(bus, payment, id);
        await bus.Ledger.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await Publish(bus, payment, id); // waits on the running copy
        await Task.Delay(TimeSpan.FromMilliseconds(100));
        bus.Ledger.Gate.TrySetResult(); // the first copy finishes, and "dies" before its completion reaches the store
        await bus.ConsumedAsync<ChargePayment>(2);
        await WaitUntil(() => script.Asked.Count > 0, TimeSpan.FromSeconds(5));

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Single(script.Asked);
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    // PASSING PROBE: UseMessageRetry around a failing check. The check throws once; the retry in the same delivery meets
    // the abandoned claim as a takeover again, asks again, and Applied completes the key without running the consumer.
    [Fact]
    public async Task MessageRetry_CheckThrowsOnce_TheRetryAsksAgain_AndRecovers()
    {
        var script = new TakeoverScript();
        var calls = 0;
        script.Answer = _ => Interlocked.Increment(ref calls) == 1 ? throw new TimeoutException("ledger unreachable (test)") : TakeoverVerdict.Applied();
        await using var bus = await StartAsync(o => o.Lease = Lease, bus: (cfg, _) => cfg.UseMessageRetry(r => r.Interval(3, TimeSpan.FromMilliseconds(20))),
            register: services =>
            {
                services.AddSingleton(script);
                services.AddDedupTakeoverCheck<ChargePayment, PaymentTakeoverCheck>();
            });
        var outcomes = Outcomes(bus, out var listener);
        using var _ = listener;
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        await CrashFirstRunAsync(bus, payment, id);

        await Publish(bus, payment, id);
        await MetricsListener.WaitForAsync(outcomes, DedupOutcomes.Recovered);
        await bus.ConsumedAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
        Assert.Equal(2, script.Asked.Count);
        Assert.Empty(bus.Harness.Published.Select<Fault<ChargePayment>>());
    }

    // PASSING PROBE: the check is scoped and may depend on scoped services (README: "scoped; one per message type"),
    // under a provider that validates scopes; the key it gets is the one the consumer sees (NotApplied → the consumer
    // runs under the claim that was checked).
    [Fact]
    public async Task ScopedCheckWithAScopedDependency_IsAsked_WithTheKeyTheConsumerSees()
    {
        var script = new TakeoverScript { Answer = _ => TakeoverVerdict.NotApplied };
        await using var bus = await StartAsync(o => o.Lease = Lease, register: services =>
        {
            services.AddSingleton(script);
            services.AddScoped<ScopedLedgerSession>();
            services.AddDedupTakeoverCheck<ChargePayment, ScopedDependencyCheck>();
        });
        var (id, payment) = (Guid.NewGuid(), new ChargePayment(Guid.NewGuid(), 1m));
        await CrashFirstRunAsync(bus, payment, id);

        await Publish(bus, payment, id);
        await bus.ConsumedAsync<ChargePayment>(2);
        await WaitUntil(() => bus.Ledger.RunsOf(payment.PaymentId) > 1, TimeSpan.FromSeconds(5));

        var asked = Assert.Single(script.Asked);
        var claim = bus.Ledger.Claims.ToArray()[^1]!;
        Assert.Equal(asked.Key, claim.Key);
        Assert.Equal(asked.Epoch, claim.Epoch);
    }

    // PASSING PROBE: the in-memory outbox around a recovered request: the recovered reply goes out through the outbox.
    [Fact]
    public async Task InMemoryOutbox_RecoveredRequest_TheRequesterGetsTheReply()
    {
        var script = new TakeoverScript();
        await using var bus = await StartAsync(o => o.Lease = Lease, x => x.AddConsumer<QuoteConsumer>(),
            bus: (cfg, context) => cfg.UseInMemoryOutbox(context),
            register: services =>
            {
                services.AddSingleton(script);
                services.AddDedupTakeoverCheck<QuoteRequest, QuoteTakeoverCheck>();
            });
        var id = Guid.NewGuid();
        var request = new QuoteRequest("fig", 4);

        Crash.Crashing = true;
        var original = await Request(bus, request, id);
        await Crash.Crashed.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        script.Answer = _ => TakeoverVerdict.Applied(original.Message);

        var afterTakeover = await Request(bus, request, id, timeoutSeconds: 5);

        Assert.Equal(original.Message, afterTakeover.Message);
        Assert.Single(script.Asked);
    }

    static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
            await Task.Delay(20);
    }
}
