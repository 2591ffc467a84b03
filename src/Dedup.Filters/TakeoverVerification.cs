using MassTransit;

namespace Dedup;

/// <summary>
/// Answers, when a message's claim is taken over (its previous owner's lease ran out before it completed or released:
/// a crash or a pause), whether that owner's work already happened. Registered per message type with
/// <c>services.AddDedupTakeoverCheck&lt;TMessage, TCheck&gt;()</c>; asked only on a takeover, never on the normal
/// path. See README, "Closing the crash window".
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
public interface IDedupTakeoverCheck<TMessage>
    where TMessage : class
{
    /// <summary>
    /// Did an owner before <see cref="DedupTakeover.Epoch"/> apply this message? Answer from the effect's own store and,
    /// in the same atomic step, raise its fence to <see cref="DedupTakeover.Epoch"/>, so that a paused previous owner
    /// that wakes up later can no longer write.
    /// </summary>
    /// <returns><see cref="TakeoverVerdict.NotApplied"/> to run the consumer, or <see cref="TakeoverVerdict.Applied"/> to complete without running it.</returns>
    Task<TakeoverVerdict> CheckAsync(DedupTakeover<TMessage> takeover, CancellationToken cancellationToken);
}

/// <summary>A takeover: the claim a new owner got after the previous owner's lease ran out.</summary>
public class DedupTakeover
{
    internal DedupTakeover(string key, long previousEpoch, long epoch)
    {
        Key = key;
        PreviousEpoch = previousEpoch;
        Epoch = epoch;
    }

    /// <summary>The store key (what the consumer sees as <c>context.GetDedupClaim().Key</c>).</summary>
    public string Key { get; }

    /// <summary>The epoch of the owner whose lease ran out.</summary>
    public long PreviousEpoch { get; }

    /// <summary>The new owner's epoch: higher than every epoch before it for this key.</summary>
    public long Epoch { get; }
}

/// <summary>A takeover of a message's claim, with the message.</summary>
/// <typeparam name="TMessage">The message type.</typeparam>
public sealed class DedupTakeover<TMessage> : DedupTakeover
    where TMessage : class
{
    internal DedupTakeover(string key, long previousEpoch, long epoch, ConsumeContext<TMessage> context, Type owner)
        : base(key, previousEpoch, epoch)
    {
        Context = context;
        Owner = owner;
    }

    /// <summary>The message.</summary>
    public TMessage Message => Context.Message;

    /// <summary>The message's consume context (headers, MessageId, the requester).</summary>
    public ConsumeContext<TMessage> Context { get; }

    /// <summary>The consumer, saga or batch consumer type the claim is scoped to.</summary>
    public Type Owner { get; }
}

/// <summary>What a takeover check found.</summary>
public sealed class TakeoverVerdict
{
    TakeoverVerdict(bool applied, object? result)
    {
        IsApplied = applied;
        Result = result;
    }

    /// <summary>The previous owner did not apply the message: the work runs under the new claim.</summary>
    public static TakeoverVerdict NotApplied { get; } = new(false, null);

    /// <summary>True when the previous owner's work happened.</summary>
    public bool IsApplied { get; }

    /// <summary>The reply (a consumer) or the result (the executor) the applied work produced, if the check knows it.</summary>
    public object? Result { get; }

    /// <summary>
    /// The previous owner's work happened: the claim is completed without running the work. With a
    /// <paramref name="result"/>: for a consumer, the reply the requester gets (now, and replayed to every later
    /// duplicate); for the executor, the result returned and recorded.
    /// </summary>
    public static TakeoverVerdict Applied(object? result = null) => new(true, result);
}
