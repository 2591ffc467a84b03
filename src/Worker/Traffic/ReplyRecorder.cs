using System.Collections.Concurrent;
using Dedup.Worker.Contracts;
using MassTransit;

namespace Dedup.Worker.Traffic;

/// <summary>
/// Counts the <see cref="QuoteIssued"/> replies the requester received, per RequestId: the first answers the
/// request, each further one answered a duplicate of it (a replayed reply: the consumer ran once, which the ledger
/// checks). Nothing is assumed about replies that never came.
/// </summary>
internal sealed class ReplyRecorder
{
    readonly ConcurrentDictionary<Guid, int> _replies = new();
    int _total;

    public int Total => Volatile.Read(ref _total);

    public int Answered => _replies.Count;

    /// <summary>Replies beyond the first per request: duplicates that got an answer.</summary>
    public int Replayed => Total - Answered;

    public event Action? Received;

    public Task Record(ConsumeContext<QuoteIssued> context)
    {
        if (context.RequestId is { } requestId)
        {
            _replies.AddOrUpdate(requestId, 1, (_, n) => n + 1);
            Interlocked.Increment(ref _total);
            Received?.Invoke();
        }

        return Task.CompletedTask;
    }

    public bool WasAnswered(Guid requestId) => _replies.ContainsKey(requestId);
}
