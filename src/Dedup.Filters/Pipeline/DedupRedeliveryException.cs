namespace Dedup.Pipeline;

/// <summary>
/// Carries a transient dedup failure (the inner exception) past the endpoint's error pipe to the transport, which
/// returns the message to the broker (RabbitMQ: basic.nack with requeue).
/// </summary>
/// <remarks>
/// MassTransit's receive pipe sends every exception to the error pipe except a cancellation, which it lets through so
/// that a message cancelled by a stopping bus is returned rather than moved to the error queue. A transient dedup
/// failure needs exactly that treatment, and riding on it leaves the error pipe entirely to the user.
/// </remarks>
internal sealed class DedupRedeliveryException : OperationCanceledException
{
    public DedupRedeliveryException(Exception transient)
        : base($"The message is returned to the broker for redelivery: {transient.Message}", transient)
    {
    }
}
