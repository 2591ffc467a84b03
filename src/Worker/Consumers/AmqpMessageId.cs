using MassTransit;

namespace Dedup.Worker.Consumers;

/// <summary>
/// The dedup key of a message from a producer that is not MassTransit: the AMQP <c>message_id</c> property, as
/// published. A Guid is normalised (any format and case give the same key); any other string is used as is (the
/// library hashes it, it never enters a key raw). Used with <c>o.KeyFromContext&lt;ExternalPayment&gt;(AmqpMessageId.Key)</c>.
/// </summary>
public static class AmqpMessageId
{
    /// <summary>The message id as it arrived (AMQP <c>message_id</c>, or the MassTransit MessageId on other transports).</summary>
    public static string? Of(ConsumeContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ReceiveContext.TryGetPayload<RabbitMqBasicConsumeContext>(out var amqp))
            return string.IsNullOrEmpty(amqp.Properties.MessageId) ? null : amqp.Properties.MessageId;

        // Other transports (the in-memory one of the demo): the envelope's MessageId.
        return context.MessageId?.ToString();
    }

    /// <summary>The dedup key for <paramref name="context"/>.</summary>
    /// <exception cref="InvalidOperationException">The message has no <c>message_id</c>.</exception>
    public static string Key(ConsumeContext context)
    {
        var id = Of(context) ?? throw new InvalidOperationException(
            $"A message on '{context.ReceiveContext.InputAddress}' has no AMQP message_id, so it cannot be deduplicated. Publish it with the message_id property set to a unique id per payment attempt (for example pika.BasicProperties(message_id=...)).");
        return Guid.TryParse(id, out var guid) ? guid.ToString("N") : id;
    }
}
