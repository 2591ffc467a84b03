using MassTransit;

namespace Dedup.Filters.Tests.Filter;

public sealed record PaymentCaptured(Guid PaymentId);

public sealed record CapturePayment(Guid PaymentId);

/// <summary>The answer to <see cref="CapturePayment"/>; every handling makes a new ReceiptId, so a replayed one is recognisable.</summary>
public sealed record CaptureReceipt(Guid PaymentId, int Captures, Guid ReceiptId);

/// <summary>A state machine saga instance that counts the captures it handled.</summary>
public sealed class PaymentState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }

    public string CurrentState { get; set; } = string.Empty;

    public int Captures { get; set; }
}

/// <summary>Counts every <see cref="PaymentCaptured"/> in the instance; records the claim each handling saw.</summary>
public sealed class PaymentStateMachine : MassTransitStateMachine<PaymentState>
{
    public PaymentStateMachine(Ledger ledger)
    {
        InstanceState(x => x.CurrentState);
        Event(() => Captured, x => x.CorrelateById(m => m.Message.PaymentId));
        Event(() => Capture, x => x.CorrelateById(m => m.Message.PaymentId));

        Initially(When(Captured)
            .Then(c => Handle(ledger, c))
            .TransitionTo(Open));
        During(Open, When(Captured).Then(c => Handle(ledger, c)));
        Initially(When(Capture)
            .Then(c => c.Saga.Captures++)
            .ThenAsync(c => c.RespondAsync(new CaptureReceipt(c.Saga.CorrelationId, c.Saga.Captures, Guid.NewGuid())))
            .TransitionTo(Open));
    }

    public State Open { get; private set; } = null!;

    public Event<PaymentCaptured> Captured { get; private set; } = null!;

    public Event<CapturePayment> Capture { get; private set; } = null!;

    static void Handle(Ledger ledger, BehaviorContext<PaymentState, PaymentCaptured> context)
    {
        ledger.Claims.Enqueue(context.GetDedupClaim());
        context.Saga.Captures++;
    }
}

public sealed record RefundRequested(Guid CorrelationId) : CorrelatedBy<Guid>;

/// <summary>A plain saga that counts the refunds it handled.</summary>
public sealed class RefundSaga : ISaga, InitiatedByOrOrchestrates<RefundRequested>
{
    public Guid CorrelationId { get; set; }

    public int Refunds { get; set; }

    public Task Consume(ConsumeContext<RefundRequested> context)
    {
        Refunds++;
        return Task.CompletedTask;
    }
}
