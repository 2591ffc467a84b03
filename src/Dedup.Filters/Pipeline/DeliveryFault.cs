namespace Dedup.Pipeline;

/// <summary>
/// A receive-context payload: the exception a delivery's consume pipe ended with, for <see cref="DedupErrorFilter"/>
/// to record once the error pipe has finished with the message.
/// </summary>
internal sealed class DeliveryFault(Exception exception)
{
    public Exception Exception { get; } = exception;
}
