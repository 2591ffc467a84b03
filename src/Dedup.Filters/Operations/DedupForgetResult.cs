namespace Dedup.Operations;

/// <summary>What <see cref="DedupRecords.ForgetAsync"/> did.</summary>
/// <param name="Outcome">Forgotten, or why not.</param>
/// <param name="Epoch">The record's epoch: the floor the next claim's epoch is above (0 when there was no record).</param>
/// <param name="PreviousState">The state the record had before (<see cref="DedupForgetOutcome.Forgotten"/>); else its state now.</param>
/// <param name="LeaseRemaining">For <see cref="DedupForgetOutcome.LeaseHeld"/>: how long the owner's lease still runs.</param>
public sealed record DedupForgetResult(DedupForgetOutcome Outcome, long Epoch, DedupRecordState PreviousState, TimeSpan LeaseRemaining = default);

/// <summary>The outcome of a forget.</summary>
public enum DedupForgetOutcome
{
    /// <summary>The record is a tombstone now: the next copy of the message claims it with a higher epoch.</summary>
    Forgotten,

    /// <summary>There was no record (never claimed, or its retention ran out): nothing was written.</summary>
    NotFound,

    /// <summary>The record was forgotten before: nothing was written.</summary>
    AlreadyForgotten,

    /// <summary>An owner holds a live lease (its work may be running): nothing was written. Forget with force to fence it off.</summary>
    LeaseHeld,
}
