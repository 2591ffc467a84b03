using MassTransit;

namespace Dedup.Filters.Tests;

/// <summary>
/// Counts every delivery that went through a consumer pipe (ran, skipped as a duplicate, or faulted). The test
/// harness's own lists key messages by MessageId, so they cannot count duplicates.
/// </summary>
public sealed class DeliveryCounter : IConsumeObserver
{
    readonly Lock _lock = new();
    readonly List<(Type Type, Exception? Exception)> _deliveries = [];
    readonly List<(Func<bool> Done, TaskCompletionSource Signal)> _waiters = [];

    public IReadOnlyList<Exception?> Of<T>()
    {
        lock (_lock)
            return _deliveries.Where(d => d.Type == typeof(T)).Select(d => d.Exception).ToList();
    }

    public async Task WaitAsync<T>(int count)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (CountOf(typeof(T)) >= count)
                return;
            _waiters.Add((() => CountOf(typeof(T)) >= count, signal));
        }

        try
        {
            await signal.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Only {Of<T>().Count} of {count} {typeof(T).Name} deliveries went through a consumer within 60 s.");
        }
    }

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        Record(typeof(T), null);
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class
    {
        Record(typeof(T), exception);
        return Task.CompletedTask;
    }

    int CountOf(Type type) => _deliveries.Count(d => d.Type == type);

    void Record(Type type, Exception? exception)
    {
        List<TaskCompletionSource> done = [];
        lock (_lock)
        {
            _deliveries.Add((type, exception));
            foreach (var waiter in _waiters.Where(w => w.Done()).ToList())
            {
                _waiters.Remove(waiter);
                done.Add(waiter.Signal);
            }
        }

        foreach (var signal in done)
            signal.TrySetResult();
    }
}
