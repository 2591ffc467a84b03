using MassTransit;

namespace Dedup.Filters.Tests.RabbitMq;

/// <summary>
/// Counts finished receives per input address: a receive is finished once its message was acknowledged (after the
/// error pipe, when it ran) or returned to the broker. A test waits for it instead of sleeping.
/// </summary>
public sealed class ReceiveProbe : IReceiveObserver
{
    readonly Lock _lock = new();
    readonly List<(string Queue, Exception? Fault)> _finished = [];

    /// <summary>The finished receives on <paramref name="queue"/>: null when acknowledged, else the exception that returned it.</summary>
    public IReadOnlyList<Exception?> FinishedOn(string queue)
    {
        lock (_lock)
            return _finished.Where(f => f.Queue == queue).Select(f => f.Fault).ToList();
    }

    public async Task WaitAsync(string queue, int count, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (FinishedOn(queue).Count < count)
        {
            try
            {
                await Task.Delay(20, cancel.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Only {FinishedOn(queue).Count} of {count} receives on {queue} finished.");
            }
        }
    }

    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context)
    {
        Add(context, null);
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        Add(context, exception);
        return Task.CompletedTask;
    }

    void Add(ReceiveContext context, Exception? fault)
    {
        if (!ReceiveFinish.IsFirst(context))
            return;
        lock (_lock)
            _finished.Add((context.InputAddress.Segments[^1], fault));
    }
}

/// <summary>Subscribes to <c>Fault&lt;T&gt;</c> on a queue of its own and counts the faults published.</summary>
public sealed class FaultProbe<T> : IAsyncDisposable
    where T : class
{
    readonly HostReceiveEndpointHandle _handle;
    int _count;

    internal FaultProbe(IBus bus, string queue) =>
        _handle = bus.ConnectReceiveEndpoint(queue, e => e.Handler<Fault<T>>(_ =>
        {
            Interlocked.Increment(ref _count);
            return Task.CompletedTask;
        }));

    public int Count => Volatile.Read(ref _count);

    internal Task Ready => _handle.Ready;

    public async ValueTask DisposeAsync() => await _handle.StopAsync();
}

public static class FaultProbe
{
    /// <summary>Starts counting the <c>Fault&lt;T&gt;</c> events published on <paramref name="bus"/>, on <paramref name="queue"/>.</summary>
    public static async Task<FaultProbe<T>> StartAsync<T>(IBus bus, string queue)
        where T : class
    {
        var probe = new FaultProbe<T>(bus, queue);
        await probe.Ready;
        return probe;
    }
}

/// <summary>A user's own error filter: records what reached the error pipe and passes it on.</summary>
public sealed class RecordingErrorFilter : IFilter<ExceptionReceiveContext>
{
    readonly Lock _lock = new();
    readonly List<Exception> _seen = [];

    public IReadOnlyList<Exception> Seen
    {
        get
        {
            lock (_lock)
                return [.. _seen];
        }
    }

    public Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        lock (_lock)
            _seen.Add(context.Exception);
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("recording-error");
}
