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

    public int Total
    {
        get
        {
            lock (_gate)
                return _total;
        }
    }

    public int Answered => _replies.Count;

    /// <summary>Replies beyond the first per request: duplicates that got an answer.</summary>
    public int Replayed => Total - Answered;

    readonly Lock _gate = new();
    readonly List<(int Target, TaskCompletionSource Done)> _waiters = [];

    public Task Record(ConsumeContext<QuoteIssued> context)
    {
        if (context.RequestId is { } requestId)
        {
            _replies.AddOrUpdate(requestId, 1, (_, n) => n + 1);
            lock (_gate)
            {
                _total++;
                _waiters.RemoveAll(w => _total >= w.Target && w.Done.TrySetResult());
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Completes once <paramref name="target"/> replies have been received.</summary>
    public Task WhenReceived(int target, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_total >= target)
                return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((target, done));
            return done.Task.WaitAsync(cancellationToken);
        }
    }

    public bool WasAnswered(Guid requestId) => _replies.ContainsKey(requestId);
}
