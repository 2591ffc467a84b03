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

/// <summary>
/// What happens in one row: deliveries (each one gives the sender its credit back), executions, and every delivery's
/// finish time and send-to-consume latency.
/// </summary>
public sealed class Recorder : IConsumeObserver
{
    readonly ConcurrentDictionary<Guid, long> _executionDone = new();
    ConcurrentQueue<Delivery> _deliveries = new();
    int _deliveryCount;
    int _executions;
    int _expected = int.MaxValue;
    SemaphoreSlim? _credits;
    TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int DeliveryCount => Volatile.Read(ref _deliveryCount);

    public int Executions => Volatile.Read(ref _executions);

    public IReadOnlyCollection<Delivery> Deliveries => _deliveries;

    /// <summary>When each id's execution finished (recorded only for consumers that do work: bursts).</summary>
    public IReadOnlyDictionary<Guid, long> ExecutionDone => _executionDone;

    /// <summary>Completes once <see cref="ExpectTotal"/>'s count is delivered; fails on the first fault.</summary>
    public Task AllDelivered => _all.Task;

    /// <summary>Starts a row: every delivery releases one of <paramref name="credits"/>.</summary>
    public void Reset(SemaphoreSlim? credits)
    {
        _executionDone.Clear();
        _deliveries = new ConcurrentQueue<Delivery>();
        _deliveryCount = 0;
        _executions = 0;
        _credits = credits;
        _all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _expected, int.MaxValue);
    }

    /// <summary>The sender stopped after <paramref name="sent"/> messages: <see cref="AllDelivered"/> completes when they are in.</summary>
    public void ExpectTotal(int sent)
    {
        Volatile.Write(ref _expected, sent);
        if (DeliveryCount >= sent)
            _all.TrySetResult();
    }

    public void Executed(Guid key, bool recordTime)
    {
        Interlocked.Increment(ref _executions);
        if (recordTime)
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
            _deliveries.Enqueue(new Delivery(message.Key, now, Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds));
            _credits?.Release();
            if (Interlocked.Increment(ref _deliveryCount) >= Volatile.Read(ref _expected))
                _all.TrySetResult();
        }

        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class
    {
        _all.TrySetException(new InvalidOperationException($"A delivery faulted, which the benchmark does not expect: {exception.Message}", exception));
        return Task.CompletedTask;
    }
}

/// <summary>One delivery: its id, when it finished (a Stopwatch timestamp) and how long after its send.</summary>
public readonly record struct Delivery(Guid Key, long Done, double LatencyMs);

public sealed class BenchConsumer(Recorder recorder) : IConsumer<BenchMessage>
{
    public async Task Consume(ConsumeContext<BenchMessage> context)
    {
        if (context.Message.WorkMs > 0)
            await Task.Delay(context.Message.WorkMs, context.CancellationToken);
        recorder.Executed(context.Message.Key, recordTime: context.Message.WorkMs > 0);
    }
}
