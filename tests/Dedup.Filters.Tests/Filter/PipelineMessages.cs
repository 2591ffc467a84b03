using MassTransit;

namespace Dedup.Filters.Tests.Filter;

/// <summary>How <see cref="ReplyingQuoteConsumer"/> answers: every RespondAsync overload, and a DI-scoped service.</summary>
public enum ReplyPath
{
    Generic,
    GenericWithPipe,
    NonGeneric,
    ObjectWithType,
    ObjectWithPipe,
    ObjectWithTypeAndPipe,
    Initializer,
    ScopedService,
}

/// <summary>What the pipeline tests set and observe beyond <see cref="Ledger"/>.</summary>
public sealed class PipelineState
{
    public ReplyPath ReplyPath;

    /// <summary>How many publishes of <see cref="PaymentCharged"/> still fail (a failing outbox flush).</summary>
    public int PublishFailuresLeft;

    /// <summary>Publishes of <see cref="PaymentCharged"/> that went out.</summary>
    public int PaymentsChargedPublished;

    /// <summary>How many unit-of-work commits still fail.</summary>
    public int CommitFailuresLeft;

    /// <summary>How many sends of <see cref="AuditReply"/> still fail.</summary>
    public int AuditReplyFailuresLeft;

    /// <summary>How many times <see cref="FlakySiblingConsumer"/> still throws.</summary>
    public int SiblingFailuresLeft;

    /// <summary>Runs of <see cref="FlakySiblingConsumer"/>.</summary>
    public int SiblingRuns;

    /// <summary>Payments a unit of work committed.</summary>
    public int Committed;

    /// <summary>Runs of <see cref="AuditingQuoteConsumer"/>.</summary>
    public int AuditRuns;

    /// <summary>The claims a scoped service saw through its injected ConsumeContext.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<Dedup.DedupClaim?> ServiceClaims { get; } = new();
}

/// <summary>Answers through the path <see cref="PipelineState.ReplyPath"/> names; every run makes a new QuoteId.</summary>
public sealed class ReplyingQuoteConsumer(Ledger ledger, PipelineState state, QuoteService service) : IConsumer<QuoteRequest>
{
    public Task Consume(ConsumeContext<QuoteRequest> context)
    {
        ledger.Runs.AddOrUpdate(Guid.Empty, 1, (_, n) => n + 1);
        var reply = new QuoteReply(context.Message.Sku, 2m, Guid.NewGuid());
        var pipe = Pipe.Execute<SendContext>(_ => { });
        return state.ReplyPath switch
        {
            ReplyPath.Generic => context.RespondAsync(reply),
            ReplyPath.GenericWithPipe => context.RespondAsync(reply, Pipe.Execute<SendContext<QuoteReply>>(_ => { })),
            ReplyPath.NonGeneric => context.RespondAsync((object)reply),
            ReplyPath.ObjectWithType => context.RespondAsync((object)reply, typeof(QuoteReply)),
            ReplyPath.ObjectWithPipe => context.RespondAsync((object)reply, pipe),
            ReplyPath.ObjectWithTypeAndPipe => context.RespondAsync((object)reply, typeof(QuoteReply), pipe),
            ReplyPath.Initializer => context.RespondAsync<InitializedQuote>(new { reply.Sku, reply.Price, reply.QuoteId }),
            _ => service.AnswerAsync(reply),
        };
    }
}

/// <summary>A service the consumer calls, with the scoped ConsumeContext injected (as MassTransit's DI gives it).</summary>
public sealed class QuoteService(ConsumeContext context, PipelineState state)
{
    public Task AnswerAsync(QuoteReply reply)
    {
        state.ServiceClaims.Enqueue(context.GetDedupClaim());
        return context.RespondAsync(reply);
    }
}

/// <summary>A unit of work shared by a consumer and the filter that commits it after the consumer returned.</summary>
public sealed class UnitOfWork
{
    public List<Guid> Pending { get; } = [];
}

/// <summary>Adds its payment to the scoped unit of work; the commit filter writes it.</summary>
public sealed class UnitOfWorkConsumer(UnitOfWork unitOfWork, Ledger ledger) : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        ledger.Runs.AddOrUpdate(context.Message.PaymentId, 1, (_, n) => n + 1);
        unitOfWork.Pending.Add(context.Message.PaymentId);
        return Task.CompletedTask;
    }
}

/// <summary>A user's unit-of-work filter: commits after the consumer; fails while the state says so.</summary>
public sealed class CommitFilter<T>(UnitOfWork unitOfWork, PipelineState state) : IFilter<ConsumeContext<T>>
    where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        await next.Send(context);
        if (Interlocked.Decrement(ref state.CommitFailuresLeft) >= 0)
            throw new InvalidOperationException("commit failed (test)");
        Interlocked.Add(ref state.Committed, unitOfWork.Pending.Count);
    }

    public void Probe(ProbeContext context)
    {
    }
}

/// <summary>Fails publishes of <see cref="PaymentCharged"/> while the state says so (an outbox flush that fails).</summary>
public sealed class FailingPublishFilter(PipelineState state) : IFilter<PublishContext>
{
    public async Task Send(PublishContext context, IPipe<PublishContext> next)
    {
        if (context is PublishContext<PaymentCharged> && Interlocked.Decrement(ref state.PublishFailuresLeft) >= 0)
            throw new InvalidOperationException("publish failed (test)");
        await next.Send(context);
        if (context is PublishContext<PaymentCharged>)
            Interlocked.Increment(ref state.PaymentsChargedPublished);
    }

    public void Probe(ProbeContext context)
    {
    }
}

/// <summary>Fails sends of <see cref="AuditReply"/> while the state says so (a reply whose send fails).</summary>
public sealed class FailingReplyFilter(PipelineState state) : IFilter<SendContext>
{
    public Task Send(SendContext context, IPipe<SendContext> next)
    {
        if (context is SendContext<AuditReply> && Interlocked.Decrement(ref state.AuditReplyFailuresLeft) >= 0)
            throw new InvalidOperationException("reply send failed (test)");
        return next.Send(context);
    }

    public void Probe(ProbeContext context)
    {
    }
}

public sealed record AuditReply(string Sku);

/// <summary>A reply type MassTransit's message initializer can create (settable properties).</summary>
public sealed class InitializedQuote
{
    public string Sku { get; set; } = string.Empty;

    public decimal Price { get; set; }

    public Guid QuoteId { get; set; }
}

/// <summary>A second consumer of a request on the same endpoint: answers without awaiting (MassTransit tracks the send).</summary>
public sealed class AuditingQuoteConsumer(PipelineState state) : IConsumer<QuoteRequest>
{
    public Task Consume(ConsumeContext<QuoteRequest> context)
    {
        Interlocked.Increment(ref state.AuditRuns);
        context.Respond(new AuditReply(context.Message.Sku));
        return Task.CompletedTask;
    }
}

/// <summary>A second consumer of <see cref="ChargePayment"/> on the same endpoint that throws while the state says so.</summary>
public sealed class FlakySiblingConsumer(PipelineState state) : IConsumer<ChargePayment>
{
    public Task Consume(ConsumeContext<ChargePayment> context)
    {
        Interlocked.Increment(ref state.SiblingRuns);
        if (Interlocked.Decrement(ref state.SiblingFailuresLeft) >= 0)
            throw new InvalidOperationException("sibling failed (test)");
        return Task.CompletedTask;
    }
}
