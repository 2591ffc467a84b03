using MassTransit;

namespace Dedup;

/// <summary>Dedup's options. Validated at start: a bad value fails startup with a message naming it.</summary>
public sealed class DedupOptions
{
    internal readonly HashSet<Type> Excluded = [];
    internal readonly Dictionary<Type, Func<ConsumeContext, string>> CustomKeys = [];

    /// <summary>Prefix of every store key. Default <c>dedup:</c>; 1 to 64 characters, no braces or whitespace.</summary>
    public string KeyPrefix { get; set; } = "dedup:";

    /// <summary>How long a completed record suppresses duplicates (the key's TTL). Default 24 h (the seed's); more than <see cref="Lease"/>.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long a claim holds without renewal; renewed every third of it while the work runs. Default 30 s; 100 ms to 1 h.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a duplicate waits for a copy in flight before it is redelivered. Default 10 s (the seed's); 0 to 1 h.</summary>
    public TimeSpan InFlightWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>What a duplicate does while another copy is in flight. Default <see cref="InFlightPolicy.Wait"/>.</summary>
    public InFlightPolicy InFlight { get; set; } = InFlightPolicy.Wait;

    /// <summary>What happens when the store cannot be reached. Default <see cref="StoreFailurePolicy.FailClosed"/>.</summary>
    public StoreFailurePolicy StoreFailure { get; set; } = StoreFailurePolicy.FailClosed;

    /// <summary>What happens to a message without a MessageId. Default <see cref="MissingMessageIdPolicy.Reject"/>.</summary>
    public MissingMessageIdPolicy MissingMessageId { get; set; } = MissingMessageIdPolicy.Reject;

    /// <summary>
    /// How long a message that must be redelivered (store unavailable, in-flight wait ran out, lease lost) is held
    /// before it is returned to the broker the first time; it doubles with each further transient failure of the same
    /// message, up to <see cref="MaxRedeliveryDelay"/>, so a redelivery loop does not spin. A value under 50 ms counts
    /// as 50 ms. Default 1 s; 0 to 1 min.
    /// </summary>
    public TimeSpan RedeliveryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a store call that failed transiently is retried (with the same owner token) before giving up. Default 2; 0 to 10.</summary>
    public int StoreRetries { get; set; } = 2;

    /// <summary>Store a fingerprint (SHA-256 of type, payload and scope) and report a conflict when the same id comes with another payload. Default true.</summary>
    public bool Fingerprints { get; set; } = true;

    /// <summary>What happens when the same id comes with another payload. Default <see cref="ConflictPolicy.Fault"/>.</summary>
    public ConflictPolicy OnConflict { get; set; } = ConflictPolicy.Fault;

    /// <summary>
    /// The largest reply record stored for replay (the replies a consumer sent, serialised). Above it the record only
    /// notes that the reply was too large, and a duplicate is skipped with a warning instead of answered. Default
    /// 64 KiB; 0 (never store replies) to 16 MiB.
    /// </summary>
    public int MaxReplyBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Record a terminal fault (retries exhausted, the message moved to the error queue) in the result record, so a
    /// later duplicate gets the same <c>Fault&lt;T&gt;</c> back and is acknowledged instead of running again. Default
    /// false: a failed message leaves no record and a duplicate runs it again. Not for message types with a takeover
    /// check: their work may have happened before the failure, so a later copy asks the check instead.
    /// </summary>
    public bool RecordFaults { get; set; }

    /// <summary>
    /// The longest one run of the work holds its claim: then the claim stops renewing, logs, and cancels
    /// <see cref="DedupClaim.LeaseLost"/> (the consumer's token), so a hung consumer no longer keeps its
    /// duplicates waiting and redelivered for ever; once the lease runs out a copy takes the message over. Default
    /// 30 min (RabbitMQ's default <c>consumer_timeout</c>); at least <see cref="Lease"/>, at most 24 h.
    /// </summary>
    public TimeSpan MaxRunTime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The longest a message is held before it is returned to the broker after a transient failure (the
    /// <see cref="RedeliveryDelay"/> doubled per failure stops here). The message stays unacknowledged while it is
    /// held, so keep it well below RabbitMQ's <c>consumer_timeout</c>. Default 30 s; <see cref="RedeliveryDelay"/> to 10 min.
    /// </summary>
    public TimeSpan MaxRedeliveryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The Redis store only: the most claims (and, separately, completions) sent to Redis in one script call when they
    /// overlap (README, "Batching"). Each key still gets exactly the reply it would get alone, and a key whose command
    /// fails fails alone. It cuts script calls per message from 2 to between 0.1 and 0.3 under load; measured on one
    /// machine with Redis on loopback, its effect on throughput and CPU stayed within that machine's noise, and it
    /// lowered the peak rate of an idle Redis, so it is off by default: consider it where round trips or calls cost
    /// more (Redis across a network, a provider billing per command). Ignored in a Redis Cluster, where each key is in
    /// its own hash slot. Default 1 (every call alone); 1 to 256.
    /// </summary>
    public int RedisBatchSize { get; set; } = 1;

    /// <summary>
    /// Wait for Redis replicas to have a record before its message is acknowledged, so the record survives a
    /// failover. Off by default (<see cref="DedupDurability.Replicas"/> = 0).
    /// </summary>
    public DedupDurability Durability { get; } = new();

    /// <summary>Messages of type <typeparamref name="T"/> are not deduplicated.</summary>
    public DedupOptions Exclude<T>()
        where T : class
    {
        Excluded.Add(typeof(T));
        return this;
    }

    /// <summary>
    /// Messages of type <typeparamref name="T"/>, and of every type derived from it (a rule for an interface covers each
    /// contract that implements it), are keyed by a business key (hashed) instead of their MessageId.
    /// </summary>
    public DedupOptions KeyFor<T>(Func<T, string> keySelector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(keySelector);
        CustomKeys[typeof(T)] = context => keySelector(((ConsumeContext<T>)context).Message);
        return this;
    }

    /// <summary>
    /// Messages of type <typeparamref name="T"/> are keyed by a key taken from the whole consume context (a header, a
    /// transport property such as a non-Guid AMQP <c>message_id</c>); the key is hashed, never stored raw. Like
    /// <see cref="KeyFor{T}"/>, it covers the types derived from <typeparamref name="T"/> too.
    /// </summary>
    public DedupOptions KeyFromContext<T>(Func<ConsumeContext<T>, string> keySelector)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(keySelector);
        CustomKeys[typeof(T)] = context => keySelector((ConsumeContext<T>)context);
        return this;
    }

    /// <summary>
    /// The custom key of <paramref name="messageType"/>: its own rule, else the rule of the most specific base class or
    /// interface it derives from. MassTransit delivers a message as each type its consumer takes, so a rule written for
    /// a contract's interface must key its concrete type too, or a consumer of that type (or one of both types) would
    /// fall back to the MessageId and a producer's retry with a new MessageId would run again (red team 7).
    /// </summary>
    /// <returns>The key selector, or null when the type has no rule (it is keyed by its MessageId).</returns>
    /// <exception cref="InvalidOperationException">Rules of several unrelated base types match, and none is more specific.</exception>
    internal Func<ConsumeContext, string>? CustomKeyFor(Type messageType)
    {
        if (CustomKeys.TryGetValue(messageType, out var own))
            return own;
        var matches = CustomKeys.Keys.Where(type => type.IsAssignableFrom(messageType)).ToList();
        var specific = matches.Where(type => matches.All(other => other.IsAssignableFrom(type))).ToList();
        return matches.Count switch
        {
            0 => null,
            _ when specific.Count == 1 => CustomKeys[specific[0]],
            _ => throw new InvalidOperationException(
                $"{messageType.Name} is keyed by {matches.Count} rules, of {string.Join(" and ", matches.Select(type => type.Name))}, and none is more specific; add KeyFor<{messageType.Name}>() (or KeyFromContext) to say which key it has."),
        };
    }
}

/// <summary>What a duplicate does while another copy of the message is in flight.</summary>
public enum InFlightPolicy
{
    /// <summary>Wait (bounded by <see cref="DedupOptions.InFlightWait"/>), woken when the copy completes; then skip it. The safe default.</summary>
    Wait,

    /// <summary>Do not wait: return it to the broker at once for a later redelivery.</summary>
    Redeliver,
}

/// <summary>What happens when the store cannot be reached.</summary>
public enum StoreFailurePolicy
{
    /// <summary>The message is not acknowledged and is redelivered later: nothing lost, nothing run twice. The safe default.</summary>
    FailClosed,

    /// <summary>The message runs without dedup (warned and counted): availability over exactly-once.</summary>
    FailOpen,
}

/// <summary>What happens to a message without a MessageId.</summary>
public enum MissingMessageIdPolicy
{
    /// <summary>Fault with <see cref="DedupKeyException"/>: the message goes to the error queue with the reason.</summary>
    Reject,

    /// <summary>Process it without dedup, with a warning.</summary>
    Process,
}

/// <summary>What happens when a message's id matches a record made for another payload (fingerprint).</summary>
public enum ConflictPolicy
{
    /// <summary>Fault with <see cref="DedupConflictException"/>: the message goes to the error queue, naming the key and both fingerprints. The safe default.</summary>
    Fault,

    /// <summary>Run the consumer anyway, without dedup (warned and counted).</summary>
    ProcessAsNew,

    /// <summary>Acknowledge it without running the consumer (warned and counted); no stored reply is sent.</summary>
    Skip,
}
