using MassTransit;
using MassTransit.Serialization;

namespace Dedup.Pipeline;

/// <summary>
/// Re-sends a message to its own input queue as an exact copy: the same body (byte for byte), MessageId, request and
/// correlation ids, addresses and headers, plus <see cref="FailuresHeader"/>. The dedup key, the fingerprint and a
/// request's reply address are therefore the copy's too, so a copy and its original are one message to dedup.
/// </summary>
internal static class RedeliveryCopy
{
    /// <summary>How many transient dedup failures the message had before this copy was sent.</summary>
    public const string FailuresHeader = "Dedup-Redeliveries";

    /// <summary>A quorum queue's count of earlier deliveries: the broker's, not the copy's.</summary>
    public const string DeliveryCountHeader = "x-delivery-count";

    /// <summary>The RabbitMQ .NET client's publisher-confirm sequence number, added to every message it publishes.</summary>
    const string PublishSequenceNumberHeader = "x-dotnet-pub-seq-no";

    /// <summary>The AMQP <c>message_id</c> property, as MassTransit's RabbitMQ transport shows it among the headers.</summary>
    const string TransportMessageIdHeader = "MessageId";

    /// <summary>
    /// True when a copy keeps the message's identity: MassTransit sets a copy's AMQP <c>message_id</c> from its Guid
    /// MessageId, so a message whose <c>message_id</c> is not that Guid (a producer other than MassTransit using its
    /// own ids, perhaps the dedup key) cannot be copied without changing it.
    /// </summary>
    public static bool KeepsIdentity(ConsumeContext context)
    {
        if (context.MessageId is not { } messageId)
            return false;
        if (!context.ReceiveContext.TransportHeaders.TryGetHeader(TransportMessageIdHeader, out var transportId) || transportId is null)
            return true;
        return Guid.TryParse(transportId.ToString(), out var parsed) && parsed == messageId;
    }

    /// <summary>Sends the copy to the input queue and waits for the broker to take it (publisher confirms).</summary>
    public static async Task SendAsync<T>(ConsumeContext<T> context, int failures, CancellationToken cancellationToken)
        where T : class
    {
        var receive = context.ReceiveContext;

        // The receive context's provider, not the consume context's: an in-memory outbox there would hold the copy back
        // and drop it with the failed attempt.
        var endpoint = await receive.SendEndpointProvider.GetSendEndpoint(receive.InputAddress).ConfigureAwait(false);
        await endpoint.Send(context.Message, new CopyPipe<T>(context, failures), cancellationToken).ConfigureAwait(false);
    }

    sealed class CopyPipe<T> : IPipe<SendContext<T>>
        where T : class
    {
        readonly ConsumeContext<T> _source;
        readonly int _failures;

        public CopyPipe(ConsumeContext<T> source, int failures)
        {
            _source = source;
            _failures = failures;
        }

        public Task Send(SendContext<T> context)
        {
            var receive = _source.ReceiveContext;
            context.MessageId = _source.MessageId;
            context.RequestId = _source.RequestId;
            context.CorrelationId = _source.CorrelationId;
            context.ConversationId = _source.ConversationId;
            context.InitiatorId = _source.InitiatorId;
            context.SourceAddress = _source.SourceAddress;
            context.ResponseAddress = _source.ResponseAddress;
            context.FaultAddress = _source.FaultAddress;
            if (_source.ExpirationTime is { } expiration)
                context.TimeToLive = expiration.ToUniversalTime() - DateTime.UtcNow;

            foreach (var (key, value) in receive.TransportHeaders.GetAll())
            {
                if (!IsTransportOwned(key))
                    context.Headers.Set(key, value);
            }

            context.Headers.Set(FailuresHeader, _failures);
            context.Serializer = new CopyBodySerializer(receive.ContentType, receive.Body);
            return Task.CompletedTask;
        }

        public void Probe(ProbeContext context) => context.CreateScope("dedup-redelivery-copy");

        // Set by the broker on delivery, by the RabbitMQ client on publish (its publisher-confirm sequence number: a
        // stale one makes the confirm of the copy never arrive), or AMQP properties shown as headers (the send sets
        // those from the ids above).
        static bool IsTransportOwned(string key) =>
            key is DeliveryCountHeader or PublishSequenceNumberHeader or TransportMessageIdHeader or nameof(SendContext.CorrelationId);
    }
}
