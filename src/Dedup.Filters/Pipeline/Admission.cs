namespace Dedup.Pipeline;

/// <summary>What <see cref="ClaimLifecycle{TMessage}.AdmitAsync"/> decided for one message.</summary>
internal enum AdmissionKind
{
    /// <summary>The message is claimed: run it under <see cref="Admission.Claim"/>.</summary>
    Claimed,

    /// <summary>A duplicate (answered with the stored reply, if any) or a skipped conflict: do not run it.</summary>
    Skipped,

    /// <summary>Run it without a claim: no MessageId (<c>MissingMessageId = Process</c>), store down with <c>FailOpen</c>, or a conflict with <c>ProcessAsNew</c>.</summary>
    Unclaimed,
}

/// <summary>The decision for one message and, when it was claimed, its pending claim (registered in its delivery).</summary>
internal readonly record struct Admission(AdmissionKind Kind, ConsumerClaim? Claim)
{
    public static Admission Skipped { get; } = new(AdmissionKind.Skipped, null);

    public static Admission Unclaimed { get; } = new(AdmissionKind.Unclaimed, null);
}
