namespace Dedup;

/// <summary>
/// Records that survive a Redis failover (<see cref="DedupOptions.Durability"/>). Redis replicates asynchronously: a
/// completion the primary acknowledged but had not yet sent to a replica is forgotten when that replica is promoted,
/// and the next copy of the message runs again. With <see cref="Replicas"/> above 0 the Redis store asks
/// <see href="https://redis.io/docs/latest/commands/wait/">WAIT</see> for that many replicas after a completion (and,
/// with <see cref="AfterClaim"/>, after a claim) and before the broker acknowledgement. Off by default.
/// </summary>
/// <remarks>
/// WAIT blocks the connection it is sent on, so the store sends it on connections of its own
/// (<see cref="Connections"/>), never on the application's multiplexer (README, "Records that survive a failover").
/// <c>WAITAOF</c> (Redis 7.2) is not used. Only the Redis store supports this; the in-memory store refuses it.
/// </remarks>
public sealed class DedupDurability
{
    /// <summary>
    /// How many replicas must have a record before its message is acknowledged. Default 0: off (no WAIT). 0 to 10.
    /// </summary>
    public int Replicas { get; set; }

    /// <summary>
    /// How long one WAIT waits for <see cref="Replicas"/> (the <c>timeout</c> argument of WAIT). Default 1 s;
    /// 1 ms to 1 min, and with <see cref="AfterClaim"/> under a third of <see cref="DedupOptions.Lease"/>, so a claim
    /// still holds its lease when its wait runs out.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Also wait for the replicas after a claim, before the consumer runs, so the promoted replica of a failover still
    /// knows the claim: a copy redelivered meanwhile then waits for the lease and takes the message over (fenced, with
    /// a higher epoch) instead of running beside the first owner. Doubles the cost. Default false.
    /// </summary>
    public bool AfterClaim { get; set; }

    /// <summary>What happens when the replicas did not confirm within <see cref="Timeout"/>. Default <see cref="ReplicationTimeoutPolicy.Fail"/>.</summary>
    public ReplicationTimeoutPolicy OnTimeout { get; set; } = ReplicationTimeoutPolicy.Fail;

    /// <summary>
    /// How many dedicated connections carry the waits; each carries one wait at a time, so this many waits run at once
    /// per process. Default 4; 1 to 64.
    /// </summary>
    public int Connections { get; set; } = 4;
}

/// <summary>What happens when fewer replicas than <see cref="DedupDurability.Replicas"/> confirmed a write in time.</summary>
public enum ReplicationTimeoutPolicy
{
    /// <summary>
    /// The attempt fails with <see cref="DedupNotReplicatedException"/> (transient: the message is returned to the
    /// broker, never acknowledged). A completed record is kept (the work happened; the redelivered copy is a
    /// duplicate once the replicas confirm it); a claim is released before the consumer runs. The safe default.
    /// </summary>
    Fail,

    /// <summary>Carry on as if confirmed, with a warning (event 60) and the outcome <c>not_replicated</c> counted: a failover now may forget the write.</summary>
    Accept,
}
