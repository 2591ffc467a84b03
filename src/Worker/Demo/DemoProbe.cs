using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using MassTransit;

namespace Dedup.Worker.Demo;

/// <summary>
/// Watches the demo's bus: every delivery to the worker's queues that has finished (acknowledged, skipped, or moved
/// to an error queue), and every reply sent (by a consumer or replayed by the filter), so the demo waits for events
/// instead of a guess.
/// </summary>
internal sealed class DemoProbe : IReceiveObserver, ISendObserver
{
    static readonly string[] Queues = [ChargePaymentConsumer.Queue, GetQuoteConsumer.Queue, ExternalPaymentConsumer.Queue];

    readonly Lock _gate = new();
    readonly List<(int Target, TaskCompletionSource Done)> _waiters = [];
    int _settled;
    int _repliesSent;

    /// <summary>Replies (<see cref="QuoteIssued"/>) sent so far.</summary>
    public int RepliesSent => Volatile.Read(ref _repliesSent);

    public int Settled => Volatile.Read(ref _settled);

    /// <summary>Completes once <paramref name="target"/> deliveries have settled.</summary>
    public Task WhenSettled(int target, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_settled >= target)
                return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((target, done));
            return done.Task.WaitAsync(cancellationToken);
        }
    }

    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context)
    {
        Settle(context);
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        Settle(context);
        return Task.CompletedTask;
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostSend<T>(SendContext<T> context)
        where T : class
    {
        if (context.Message is QuoteIssued)
            Interlocked.Increment(ref _repliesSent);
        return Task.CompletedTask;
    }

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    void Settle(ReceiveContext context)
    {
        // A delivery the error pipe moved to an error queue is reported twice (ReceiveFault from the error pipe, then
        // PostReceive once acknowledged): it settled once.
        if (!IsWorkerQueue(context) || context.TryGetPayload<SettledMark>(out _))
            return;
        context.GetOrAddPayload(() => new SettledMark());

        lock (_gate)
        {
            _settled++;
            _waiters.RemoveAll(w =>
            {
                if (_settled < w.Target)
                    return false;
                w.Done.TrySetResult();
                return true;
            });
        }
    }

    static bool IsWorkerQueue(ReceiveContext context)
    {
        var path = context.InputAddress.AbsolutePath.TrimStart('/');
        return Queues.Any(q => path.EndsWith(q, StringComparison.Ordinal) && (path.Length == q.Length || path[^(q.Length + 1)] == '/'));
    }

    sealed class SettledMark;
}
