using System.Diagnostics.CodeAnalysis;
using Dedup.Protocol;
using MassTransit;
using MassTransit.Context;
using MassTransit.Initializers;

namespace Dedup.MassTransit;

/// <summary>
/// The consume context the consumer sees while it owns a claim: its <see cref="CancellationToken"/> is also
/// cancelled when the lease is lost, it carries the <see cref="DedupClaim"/> (key, fencing epoch), and it captures
/// every reply sent with <c>RespondAsync</c> so the filter can store it in the result record for replay.
/// </summary>
internal sealed class DedupConsumeContext<TConsumer, TMessage> : ConsumerConsumeContextProxy<TConsumer, TMessage>, IDedupClaimContext
    where TConsumer : class
    where TMessage : class
{
    readonly CancellationToken _cancellationToken;
    readonly List<(object Message, Type Type)> _replies = [];
    readonly Lock _lock = new();

    public DedupConsumeContext(ConsumerConsumeContext<TConsumer, TMessage> context, DedupClaim claim, CancellationToken cancellationToken)
        : base(context, context.Consumer)
    {
        Claim = claim;
        _cancellationToken = cancellationToken;
    }

    public DedupClaim Claim { get; }

    /// <summary>The replies sent so far, in order.</summary>
    public IReadOnlyList<(object Message, Type Type)> Replies
    {
        get
        {
            lock (_lock)
                return [.. _replies];
        }
    }

    public override CancellationToken CancellationToken => _cancellationToken;

    public override Task RespondAsync<T>(T message) => base.RespondAsync(Capture(message));

    public override Task RespondAsync<T>(T message, IPipe<SendContext<T>> sendPipe) => base.RespondAsync(Capture(message), sendPipe);

    public override Task RespondAsync<T>(T message, IPipe<SendContext> sendPipe) => base.RespondAsync(Capture(message), sendPipe);

    public override Task RespondAsync(object message) => base.RespondAsync(Capture(message, message.GetType()));

    public override Task RespondAsync(object message, Type messageType) => base.RespondAsync(Capture(message, messageType), messageType);

    public override Task RespondAsync(object message, IPipe<SendContext> sendPipe) => base.RespondAsync(Capture(message, message.GetType()), sendPipe);

    public override Task RespondAsync(object message, Type messageType, IPipe<SendContext> sendPipe) =>
        base.RespondAsync(Capture(message, messageType), messageType, sendPipe);

    public override async Task RespondAsync<T>(object values)
    {
        var (message, pipe) = await MessageInitializerCache<T>.InitializeMessage(this, values).ConfigureAwait(false);
        await base.RespondAsync(Capture(message), pipe).ConfigureAwait(false);
    }

    public override async Task RespondAsync<T>(object values, IPipe<SendContext<T>> sendPipe)
    {
        var (message, pipe) = await MessageInitializerCache<T>.InitializeMessage(this, values, sendPipe).ConfigureAwait(false);
        await base.RespondAsync(Capture(message), pipe).ConfigureAwait(false);
    }

    public override async Task RespondAsync<T>(object values, IPipe<SendContext> sendPipe)
    {
        var (message, pipe) = await MessageInitializerCache<T>.InitializeMessage(this, values, sendPipe).ConfigureAwait(false);
        await base.RespondAsync(Capture(message), pipe).ConfigureAwait(false);
    }

    public override void Respond<T>(T message) => base.Respond(Capture(message));

    T Capture<T>(T message)
        where T : class
    {
        Capture(message, typeof(T));
        return message;
    }

    object Capture(object message, Type type)
    {
        ArgumentNullException.ThrowIfNull(message);
        lock (_lock)
            _replies.Add((message, type));
        return message;
    }

    // The claim is answered here, not stored as a payload of the shared receive context: two consumers of one
    // message on one endpoint each hold their own claim.
    public override bool TryGetPayload<T>([NotNullWhen(true)] out T payload)
        where T : class
    {
        if (Claim is T claim)
        {
            payload = claim;
            return true;
        }

        return base.TryGetPayload(out payload);
    }
}

/// <summary>A context that carries a dedup claim.</summary>
internal interface IDedupClaimContext
{
    DedupClaim Claim { get; }
}
