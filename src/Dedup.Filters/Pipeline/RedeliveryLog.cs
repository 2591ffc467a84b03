using Microsoft.Extensions.Logging;

namespace Dedup.Pipeline;

/// <summary>Log messages of the redelivery of transient dedup failures; event ids 50 to 59 (40 is the start-up coverage line).</summary>
internal static partial class RedeliveryLog
{
    [LoggerMessage(EventId = 50, Level = LogLevel.Debug, Message = "Message {MessageId} on {InputAddress} returned to the broker after {DelayMs} ms (transient failure {Attempt}): {Reason}")]
    public static partial void Returned(ILogger logger, Guid? messageId, Uri inputAddress, long delayMs, int attempt, string reason);

    [LoggerMessage(EventId = 51, Level = LogLevel.Debug, Message = "Message {MessageId} on {InputAddress} re-sent as a copy after {DelayMs} ms (transient failure {Attempt}) instead of being returned: the queue counts deliveries (x-delivery-count {DeliveryCount})")]
    public static partial void Copied(ILogger logger, Guid? messageId, Uri inputAddress, long delayMs, int attempt, int deliveryCount);

    [LoggerMessage(EventId = 52, Level = LogLevel.Warning, Message = "Message {MessageId} on {InputAddress} returned to the broker, which counts the return against the queue's delivery limit (x-delivery-count {DeliveryCount}): it cannot be re-sent as a copy because its AMQP message_id is not its MessageId Guid")]
    public static partial void NotCopyable(ILogger logger, Guid? messageId, Uri inputAddress, int deliveryCount);

    [LoggerMessage(EventId = 53, Level = LogLevel.Warning, Message = "Message {MessageId} on {InputAddress} could not be re-sent as a copy; returned to the broker, which counts the return against the queue's delivery limit (x-delivery-count {DeliveryCount})")]
    public static partial void CopyFailed(ILogger logger, Guid? messageId, Uri inputAddress, int deliveryCount, Exception exception);
}
