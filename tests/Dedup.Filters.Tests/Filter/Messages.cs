using System.Collections.Concurrent;
using Dedup.Protocol;
using MassTransit;

namespace Dedup.Filters.Tests.Filter;

public sealed record ChargePayment(Guid PaymentId, decimal Amount);

public sealed record Heartbeat(int Sequence);

/// <summary>What the test consumers did: runs per payment, the claims they saw, and gates a test opens.</summary>
public sealed class Ledger
{
    public ConcurrentDictionary<Guid, int> Runs { get; } = new();

    public ConcurrentQueue<DedupClaim?> Claims { get; } = new();

    public int Heartbeats;

    /// <summary>How many times the flaky consumer still throws before it succeeds.</summary>
    public int FailuresLeft;

    /// <summary>Completed by a test to let a holding consumer finish.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when a consumer started running (for the holding consumers).</summary>
    public TaskCompletionSource<DedupClaim?> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool HoldConsumers;

    public int RunsOf(Guid paymentId) => Runs.GetValueOrDefault(paymentId);

    public int TotalRuns => Runs.Values.Sum();
}

public sealed class ChargeConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public async Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Claims.Enqueue(context.GetDedupClaim());
        if (ledger.HoldConsumers)
        {
            ledger.Started.TrySetResult(context.GetDedupClaim());
            await ledger.Gate.Task.WaitAsync(TimeSpan.FromSeconds(60), context.CancellationToken);
        }

        if (Interlocked.Decrement(ref ledger.FailuresLeft) >= 0)
            throw new InvalidOperationException("transient failure (test)");

        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
    }
}

/// <summary>A second consumer of the same message type: fan-out scope test.</summary>
public sealed class AuditConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public int Runs;

    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Runs.AddOrUpdate(Guid.Empty, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

public sealed class HeartbeatConsumer(Ledger ledger) : IConsumer<Heartbeat>
{
    public Task Consume(ConsumeContext<Heartbeat> context)
    {
        Interlocked.Increment(ref ledger.Heartbeats);
        return Task.CompletedTask;
    }
}

public sealed record QuoteRequest(string Sku, int Quantity);

public sealed record QuoteReply(string Sku, decimal Price, Guid QuoteId);

/// <summary>A request/response consumer: every run makes a new QuoteId, so a replayed reply is recognisable.</summary>
public sealed class QuoteConsumer(Ledger ledger) : IConsumer<QuoteRequest>
{
    public async Task Consume(ConsumeContext<QuoteRequest> context)
    {
        ledger.Claims.Enqueue(context.GetDedupClaim());
        if (ledger.HoldConsumers)
        {
            ledger.Started.TrySetResult(context.GetDedupClaim());
            await ledger.Gate.Task.WaitAsync(TimeSpan.FromSeconds(60), context.CancellationToken);
        }

        if (Interlocked.Decrement(ref ledger.FailuresLeft) >= 0)
            throw new InvalidOperationException("quote failed (test)");

        ledger.Runs.AddOrUpdate(Guid.Empty, 1, (_, n) => n + 1);
        await context.RespondAsync(new QuoteReply(context.Message.Sku, 9.5m * context.Message.Quantity, Guid.NewGuid()));
    }
}

public sealed record PaymentCharged(Guid PaymentId);

/// <summary>Publishes an event, then fails while the ledger says so: shows what a failed attempt sends.</summary>
public sealed class NotifyingConsumer(Ledger ledger) : IConsumer<ChargePayment>
{
    public async Task Consume(ConsumeContext<ChargePayment> context)
    {
        await context.Publish(new PaymentCharged(context.Message.PaymentId));
        if (Interlocked.Decrement(ref ledger.FailuresLeft) >= 0)
            throw new InvalidOperationException("failed after publishing (test)");
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
    }
}
