namespace Dedup.Operations;

/// <summary>The state of a dedup record (README, "The claim protocol"; stored as the hash field <c>s</c>).</summary>
public enum DedupRecordState
{
    /// <summary>No record: never claimed, or its retention ran out.</summary>
    Absent,

    /// <summary>Claimed (<c>s=p</c>): an owner runs the work, or ran it and crashed (see <see cref="DedupRecord.LeaseExpired"/>).</summary>
    InProgress,

    /// <summary>Completed (<c>s=c</c>): the work ran; duplicates are skipped and get the result record.</summary>
    Completed,

    /// <summary>Released after a failure (<c>s=a</c>): the next copy claims it, naming the released epoch to the takeover check.</summary>
    Released,

    /// <summary>
    /// Forgotten by an operator (<c>s=x</c>): a tombstone that keeps only the epoch, so the next copy claims it with a
    /// higher epoch, naming the forgotten one to the takeover check.
    /// </summary>
    Forgotten,
}
