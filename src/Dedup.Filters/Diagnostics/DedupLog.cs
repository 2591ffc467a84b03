using Microsoft.Extensions.Logging;

namespace Dedup.Diagnostics;

/// <summary>Dedup's log messages, with fixed event ids.</summary>
internal static partial class DedupLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Duplicate of {Key} skipped (epoch {Epoch})")]
    public static partial void DuplicateSkipped(ILogger logger, string key, long epoch);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Duplicate of {Key} waited {WaitedMs} ms for the copy in flight, then was skipped")]
    public static partial void InFlightWaited(ILogger logger, string key, long waitedMs);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Duplicate of {Key} still in flight after {WaitedMs} ms; it will be redelivered")]
    public static partial void InFlightTimeout(ILogger logger, string key, long waitedMs);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Claim on {Key} taken over at epoch {Epoch}: the previous owner's lease expired (crash or pause); without a takeover check that finds its work applied, the work runs again")]
    public static partial void TakenOver(ILogger logger, string key, long epoch);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Lease on {Key} (epoch {Epoch}) lost while the work ran; the work was cancelled and its result not recorded")]
    public static partial void LeaseLost(ILogger logger, string key, long epoch);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Dedup conflict on {Key}: fingerprint {Fingerprint}, stored {StoredFingerprint}; policy {Policy}")]
    public static partial void Conflict(ILogger logger, string key, string fingerprint, string storedFingerprint, ConflictPolicy policy);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Dedup store unavailable for {Key}; failing open: the message runs without dedup")]
    public static partial void FailOpen(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Could not release the claim on {Key} (epoch {Epoch}); it frees itself when the lease expires")]
    public static partial void ReleaseFailed(ILogger logger, string key, long epoch, Exception exception);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "Lease renewal of {Key} failed transiently; retrying")]
    public static partial void RenewFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Subscription to {Channel} failed; waiters fall back to the lease deadline")]
    public static partial void SubscriptionFailed(ILogger logger, string channel, Exception exception);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Message {MessageType} on {InputAddress} has no MessageId; processing it without dedup (MissingMessageId = Process)")]
    public static partial void NoMessageId(ILogger logger, string messageType, Uri? inputAddress);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Completing {Key} failed transiently; retrying while the lease holds")]
    public static partial void CompleteRetry(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "The work on {Key} ran but its result could not be recorded (store unavailable); a redelivery after the lease expires runs it again")]
    public static partial void CompleteFailed(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "Duplicate of {Key} skipped without a reply: the original reply was {Size} bytes, over MaxReplyBytes ({MaxReplyBytes}), so it was not stored")]
    public static partial void ReplyTooLarge(ILogger logger, string key, int size, int maxReplyBytes);

    [LoggerMessage(EventId = 15, Level = LogLevel.Warning, Message = "The terminal fault of {Key} could not be recorded; a duplicate will run the message again")]
    public static partial void FaultNotRecorded(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 16, Level = LogLevel.Debug, Message = "Duplicate of {Key} answered with the recorded fault")]
    public static partial void FaultReplayed(ILogger logger, string key);

    [LoggerMessage(EventId = 17, Level = LogLevel.Warning, Message = "Claim on {Key} at epoch {Epoch}: the takeover check found the work of epoch {PreviousEpoch} applied; completed without running it again (recovered)")]
    public static partial void Recovered(ILogger logger, string key, long epoch, long previousEpoch);

    [LoggerMessage(EventId = 18, Level = LogLevel.Error, Message = "The takeover check for {Key} (epoch {Epoch}) failed; nothing ran, the claim is abandoned so the redelivery asks again")]
    public static partial void TakeoverCheckFailed(ILogger logger, string key, long epoch, Exception exception);

    [LoggerMessage(EventId = 19, Level = LogLevel.Warning, Message = "Claim on {Key} (epoch {Epoch}) answered after {ElapsedMs} ms, over a third of the lease, and another owner had taken the key over meanwhile (this process or Redis paused); the work does not run on it, the key is claimed again")]
    public static partial void LostOnArrival(ILogger logger, string key, long epoch, long elapsedMs);

    [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "The work on {Key} (epoch {Epoch}) has run for Dedup:MaxRunTime ({MaxRunTime}); its claim stops renewing and the work is cancelled, so a copy can take the message over once the lease runs out")]
    public static partial void MaxRunTimeExceeded(ILogger logger, string key, long epoch, TimeSpan maxRunTime);

    [LoggerMessage(EventId = 31, Level = LogLevel.Error, Message = "Lease renewal of {Key} threw unexpectedly; treated as unknown: renewals go on until the lease deadline")]
    public static partial void RenewThrew(ILogger logger, string key, Exception exception);

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "{Key} ({Operation}) was confirmed by {Acknowledged} of {Required} replicas within {Timeout}; accepted (Dedup:Durability:OnTimeout = Accept): a failover before the replicas catch up forgets it")]
    public static partial void NotReplicatedAccepted(ILogger logger, string key, string operation, int acknowledged, int required, TimeSpan timeout, Exception? exception);

    [LoggerMessage(EventId = 61, Level = LogLevel.Warning, Message = "{Key} ({Operation}) was confirmed by {Acknowledged} of {Required} replicas within {Timeout}; the attempt fails and the message is redelivered (Dedup:Durability:OnTimeout = Fail)")]
    public static partial void NotReplicatedFailed(ILogger logger, string key, string operation, int acknowledged, int required, TimeSpan timeout, Exception? exception);

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Dedup covers {Covered}; not covered: {NotCovered}")]
    public static partial void Coverage(ILogger logger, string covered, string notCovered);
}
