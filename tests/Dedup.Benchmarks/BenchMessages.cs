using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit;

namespace Dedup.Benchmarks;

/// <summary>
/// The benchmark's message. Copies of one id carry the same payload (or dedup would rightly call them a conflict);
/// the send time travels in the <see cref="SentHeader"/> header (a Stopwatch timestamp of this process).
/// </summary>
public sealed record BenchMessage(Guid Key, int WorkMs)
{
    public const string SentHeader = "X-Bench-Sent";
}

/// <summary>What happened in one row: executions per id, every delivery's latency and finish time.</summary>
public sealed class Recorder : IConsumeObserver
{
    readonly ConcurrentDictionary<Guid, int> _executions = new();
    readonly ConcurrentDictionary<Guid, long> _executionDone = new();
    readonly ConcurrentQueue<(Guid Key, long Done, double LatencyMs)> _deliveries = new();
    int _count;
    int _faults;
    int _expected = int.MaxValue;
    TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Faults => _faults;

    public int Executions => _executions.Values.Sum();

    public IReadOnlyCollection<(Guid Key, long Done, double LatencyMs)> Deliveries => _deliveries;

    public IReadOnlyDictionary<Guid, long> ExecutionDone => _executionDone;

    public void Reset(int expected)
    {
        _executions.Clear();
        _executionDone.Clear();
        _deliveries.Clear();
        _count = 0;
        _faults = 0;
        _all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Delivered = new SemaphoreSlim(0);
        Volatile.Write(ref _expected, expected);
    }

    public Task AllDelivered => _all.Task;

    /// <summary>Released once per delivery: a sender can await the deliveries of what it just sent.</summary>
    public SemaphoreSlim Delivered { get; private set; } = new(0);

    public void Executed(Guid key)
    {
        _executions.AddOrUpdate(key, 1, (_, n) => n + 1);
        _executionDone.TryAdd(key, Stopwatch.GetTimestamp());
    }

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        if (context.Message is BenchMessage message)
        {
            var now = Stopwatch.GetTimestamp();
            var sent = context.Headers.Get<long>(BenchMessage.SentHeader) ?? now;
            _deliveries.Enqueue((message.Key, now, Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds));
            Delivered.Release();
            if (Interlocked.Increment(ref _count) >= Volatile.Read(ref _expected))
                _all.TrySetResult();
        }

        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class
    {
        Interlocked.Increment(ref _faults);
        _all.TrySetException(new InvalidOperationException($"A delivery faulted, which the benchmark does not expect: {exception.Message}", exception));
        return Task.CompletedTask;
    }
}

public sealed class BenchConsumer(Recorder recorder) : IConsumer<BenchMessage>
{
    public async Task Consume(ConsumeContext<BenchMessage> context)
    {
        if (context.Message.WorkMs > 0)
            await Task.Delay(context.Message.WorkMs, context.CancellationToken);
        recorder.Executed(context.Message.Key);
    }
}
