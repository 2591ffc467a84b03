using Microsoft.Extensions.Logging;

namespace Dedup.MassTransit;

/// <summary>Log messages of the redelivery of transient dedup failures; event ids 40 to 49.</summary>
internal static partial class RedeliveryLog
{
    [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Message {MessageId} on {InputAddress} returned to the broker after {DelayMs} ms (transient failure {Attempt}): {Reason}")]
    public static partial void Returned(ILogger logger, Guid? messageId, Uri inputAddress, long delayMs, int attempt, string reason);
}
