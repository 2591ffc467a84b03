namespace Dedup.Pipeline;

/// <summary>
/// Counts the transient failures of each message on one endpoint in this process (by MessageId), for the backoff of
/// <see cref="DedupRedeliveryFilter"/>. A message that succeeds or faults for good is forgotten. Bounded: at
/// <see cref="Capacity"/> messages it forgets them all, whose backoff then starts again from the first delay.
/// </summary>
/// <remarks>
/// A classic RabbitMQ queue tells a consumer only whether a message was delivered before, not how often; a quorum
/// queue's <c>x-delivery-count</c> and the copy's own header are passed in as <c>knownBefore</c>, so the count also
/// survives a move to another process.
/// </remarks>
internal sealed class RedeliveryCounter
{
    public const int Capacity = 10_000;

    readonly Lock _lock = new();
    readonly Dictionary<Guid, int> _failures = [];
    int _size;

    /// <summary>Counts a transient failure and returns which one it is, from 1.</summary>
    /// <param name="messageId">The message; without one only <paramref name="knownBefore"/> counts.</param>
    /// <param name="knownBefore">Failures the delivery itself says happened before (delivery count, redelivered flag).</param>
    public int Next(Guid? messageId, int knownBefore)
    {
        if (messageId is not { } id)
            return knownBefore + 1;

        lock (_lock)
        {
            if (!_failures.TryGetValue(id, out var counted) && _failures.Count >= Capacity)
                _failures.Clear();

            var failure = Math.Max(counted, knownBefore) + 1;
            _failures[id] = failure;
            Volatile.Write(ref _size, _failures.Count);
            return failure;
        }
    }

    /// <summary>Forgets <paramref name="messageId"/>; costs nothing while no failure is counted.</summary>
    public void Forget(Guid? messageId)
    {
        if (messageId is not { } id || Volatile.Read(ref _size) == 0)
            return;

        lock (_lock)
        {
            if (_failures.Remove(id))
                Volatile.Write(ref _size, _failures.Count);
        }
    }
}
