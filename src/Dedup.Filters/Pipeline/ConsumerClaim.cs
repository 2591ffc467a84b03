using Dedup.Diagnostics;
using Dedup.Protocol;

namespace Dedup.Pipeline;

/// <summary>Where one consumer's claim is within its delivery.</summary>
internal enum ConsumerClaimState
{
    /// <summary>The consumer runs.</summary>
    Running,

    /// <summary>The consumer returned; the claim waits for the delivery to finish.</summary>
    Succeeded,

    /// <summary>The consumer or its own reply failed; the claim was or will be released.</summary>
    Failed,

    /// <summary>Completed or released.</summary>
    Settled,
}

/// <summary>
/// One consumer's claim within one delivery: the owned <see cref="ActiveClaim"/> (renewed until the delivery is
/// settled), the replies the consumer sent, and the consume tasks it started (a reply MassTransit sends in the
/// background). Each consumer of a message on an endpoint has its own.
/// </summary>
internal sealed class ConsumerClaim
{
    static readonly AsyncLocal<ConsumerClaim?> CurrentClaim = new();

    readonly Lock _lock = new();
    readonly List<(object Message, Type Type)> _replies = [];
    readonly List<Task> _tasks = [];
    readonly List<Guid> _sendIds = [];

    public ConsumerClaim(DeliveryScope delivery, string key, Type messageType, string fingerprint, ActiveClaim active, object? unit, Guid? requestId)
    {
        Delivery = delivery;
        Key = key;
        MessageType = messageType;
        Fingerprint = fingerprint;
        Active = active;
        Unit = unit;
        RequestId = requestId;
    }

    /// <summary>The claim whose consumer the current code runs in (also inside services the consumer calls).</summary>
    public static ConsumerClaim? Current
    {
        get => CurrentClaim.Value;
        set => CurrentClaim.Value = value;
    }

    public DeliveryScope Delivery { get; }

    public string Key { get; }

    /// <summary>The message type the consumer took the message as.</summary>
    public Type MessageType { get; }

    public string Fingerprint { get; }

    public ActiveClaim Active { get; }

    /// <summary>The outbox or transaction around this consumer (null when none): work it holds is undone by any failure it sees.</summary>
    public object? Unit { get; }

    public Guid? RequestId { get; }

    public ConsumerClaimState State { get; set; }

    /// <summary>How many failures the delivery had seen when this consumer succeeded.</summary>
    public int FailureMark { get; set; }

    public IReadOnlyList<(object Message, Type Type)> Replies
    {
        get
        {
            lock (_lock)
                return [.. _replies];
        }
    }

    /// <summary>
    /// Gives the key back because this consumer's work does not stand: released (fenced by owner token and epoch), or,
    /// when the claim was lost or is a takeover whose work never started, its lease cut (<see cref="ActiveClaim"/>).
    /// Stops renewing.
    /// </summary>
    public async Task ReleaseAsync(DedupMetrics metrics)
    {
        State = ConsumerClaimState.Settled;
        await using (Active.ConfigureAwait(false))
            await Active.ReleaseAsync().ConfigureAwait(false);
        if (!Active.IsLost)
            metrics.Outcome(DedupOutcomes.Released);
    }

    /// <summary>Records a reply the transport took; the same send seen twice (two observers) is recorded once.</summary>
    public void AddReply(Guid? sendId, object message, Type type)
    {
        lock (_lock)
        {
            if (sendId is { } id && _sendIds.Contains(id))
                return;
            if (sendId is { } added)
                _sendIds.Add(added);
            _replies.Add((message, type));
        }
    }

    /// <summary>A consume task this consumer started (a reply sent without awaiting it).</summary>
    public void Track(Task task)
    {
        lock (_lock)
            _tasks.Add(task);
    }

    /// <summary>Waits (at most <paramref name="limit"/>) until the consume tasks this consumer started have finished, however they ended.</summary>
    public async Task TasksFinishedAsync(TimeSpan limit)
    {
        Task[] tasks;
        lock (_lock)
            tasks = [.. _tasks];
        if (tasks.Length == 0 || tasks.All(t => t.IsCompleted))
            return;
        await Task.WhenAny(Task.WhenAll(tasks), Task.Delay(limit)).ConfigureAwait(false);
    }

    /// <summary>The exception of a consume task of this consumer that failed, if one did.</summary>
    public Exception? FailedTask()
    {
        lock (_lock)
        {
            foreach (var task in _tasks)
            {
                if (task.IsFaulted)
                    return task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException : task.Exception;
                if (task.IsCanceled)
                    return new TaskCanceledException(task);
            }
        }

        return null;
    }
}
