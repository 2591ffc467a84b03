namespace Dedup.Reliability.Host;

/// <summary>
/// Test-only fault injection: section <c>Worker:Faults</c> (environment <c>Worker__Faults__Kill</c>, ...). Off unless
/// <see cref="Kill"/> or <see cref="PauseAfterSideEffect"/> or <see cref="LogOutcomes"/> is set. Used by the reliability suite
/// (tests/Dedup.Reliability.Tests) to crash a worker at a precise point of one payment's processing.
/// </summary>
public sealed class FaultSettings
{
    /// <summary>The section name.</summary>
    public const string Section = "Worker:Faults";

    /// <summary>Where the process kills itself (SIGKILL, no clean-up) while processing <see cref="PaymentId"/>. Default <see cref="KillPoint.None"/>.</summary>
    public KillPoint Kill { get; set; } = KillPoint.None;

    /// <summary>
    /// The payment id (<c>ChargePayment.PaymentId</c> or <c>ExternalPayment.PaymentId</c>) or quote id the faults apply
    /// to; <c>*</c> for every message (pauses only).
    /// </summary>
    public string? PaymentId { get; set; }

    /// <summary>After the ledger write of <see cref="PaymentId"/>, print a marker line and wait this long before completing. Default 0.</summary>
    public TimeSpan PauseAfterSideEffect { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// After the consumers of a matching message returned (a payment's ledger write, a quote's reply sent), wait this long
    /// before dedup completes its claim: widens the crash window for every message with <c>PaymentId=*</c>. Default 0.
    /// </summary>
    public TimeSpan PauseBeforeComplete { get; set; } = TimeSpan.Zero;

    /// <summary>Print every <c>dedup.messages</c> measurement (the library's metric) as a line <c>fault-probe: dedup.messages outcome=...</c>.</summary>
    public bool LogOutcomes { get; set; }

    internal bool Enabled => Kill != KillPoint.None || PauseAfterSideEffect > TimeSpan.Zero || PauseBeforeComplete > TimeSpan.Zero || LogOutcomes;

    internal IEnumerable<string> Validate()
    {
        if (!Enum.IsDefined(Kill))
            yield return $"Worker:Faults:Kill must be None, AfterClaim, AfterSideEffect or AfterComplete; it is {Kill}.";
        if ((Kill != KillPoint.None || PauseAfterSideEffect > TimeSpan.Zero || PauseBeforeComplete > TimeSpan.Zero) && string.IsNullOrWhiteSpace(PaymentId))
            yield return "Worker:Faults:PaymentId must name the payment the fault applies to.";
        if (Kill != KillPoint.None && PaymentId == Every)
            yield return "Worker:Faults:Kill needs one payment id in Worker:Faults:PaymentId, not '*'.";
        if (PauseAfterSideEffect < TimeSpan.Zero || PauseAfterSideEffect > TimeSpan.FromMinutes(10))
            yield return $"Worker:Faults:PauseAfterSideEffect must be between 0 and 00:10:00; it is {PauseAfterSideEffect}.";
        if (PauseBeforeComplete < TimeSpan.Zero || PauseBeforeComplete > TimeSpan.FromMinutes(10))
            yield return $"Worker:Faults:PauseBeforeComplete must be between 0 and 00:10:00; it is {PauseBeforeComplete}.";
    }

    internal bool Matches(string? id) =>
        PaymentId == Every || !string.IsNullOrEmpty(PaymentId) && string.Equals(PaymentId, id, StringComparison.OrdinalIgnoreCase);

    const string Every = "*";
}

/// <summary>Where a test-only fault kills the worker.</summary>
public enum KillPoint
{
    /// <summary>Never.</summary>
    None,

    /// <summary>The claim is held, the consumer runs, the side effect (ledger write) has not happened.</summary>
    AfterClaim,

    /// <summary>The ledger write happened; the claim is not completed.</summary>
    AfterSideEffect,

    /// <summary>The claim is completed (the whole consume pipeline returned); the message is not acknowledged.</summary>
    AfterComplete,
}
