using System.Diagnostics;
using MassTransit;

namespace Dedup.Benchmarks;

/// <summary>
/// Keeps a fixed number of messages in flight (sent, not yet consumed) until stopped: a credit per message, given back
/// by the recorder when the message has been consumed. The consumer is never starved and the broker's queue never
/// grows without bound, so every row of a transport runs under the same load whatever its throughput.
/// </summary>
public sealed class Sender
{
    readonly ISendEndpoint _endpoint;
    readonly Workload _workload;
    readonly SemaphoreSlim _credits;
    readonly TaskCompletionSource _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _sent;

    public Sender(ISendEndpoint endpoint, Workload workload, SemaphoreSlim credits)
    {
        _endpoint = endpoint;
        _workload = workload;
        _credits = credits;
    }

    /// <summary>Messages sent so far.</summary>
    public int Sent => Volatile.Read(ref _sent);

    /// <summary>Faults with the first send that failed; never completes otherwise.</summary>
    public Task Failed => _failed.Task;

    /// <summary>Sends until <paramref name="stop"/> is cancelled; returns the number of messages sent.</summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        try
        {
            while (true)
            {
                // All of an id's copies need a credit before any goes out: a burst's copies are in flight together.
                for (var i = 0; i < _workload.CopiesPerId; i++)
                    await _credits.WaitAsync(stop);

                var id = _workload.NextId();
                var message = new BenchMessage(id, _workload.WorkMs);
                for (var i = 0; i < _workload.CopiesPerId; i++)
                {
                    Track(_endpoint.Send(message, context => Stamp(context, id), CancellationToken.None));
                    Interlocked.Increment(ref _sent);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return Sent;
        }
    }

    void Track(Task send)
    {
        if (send.IsCompletedSuccessfully)
            return;
        send.ContinueWith(
            static (task, state) => ((TaskCompletionSource)state!).TrySetException(task.Exception!.InnerExceptions),
            _failed,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    static void Stamp(SendContext context, Guid id)
    {
        context.MessageId = id;
        context.Headers.Set(BenchMessage.SentHeader, Stopwatch.GetTimestamp());
    }
}
