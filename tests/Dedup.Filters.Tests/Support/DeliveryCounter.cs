using MassTransit;

namespace Dedup.Filters.Tests;

/// <summary>
/// Counts every delivery that went through a consumer pipe (ran, skipped as a duplicate, or faulted), and every
/// delivery the transport finished by MessageId (also those a saga's filter skipped before any consumer saw them). The test harness's own lists key messages by MessageId, so they cannot count duplicates.
/// </summary>
public sealed class DeliveryCounter : IConsumeObserver, IReceiveObserver
{
    readonly Lock _lock = new();
    readonly List<(Type Type, Exception? Exception)> _deliveries = [];
    readonly List<Guid?> _received = [];
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

    /// <summary>Waits until the transport finished <paramref name="count"/> deliveries with <paramref name="messageId"/> (acknowledged or faulted).</summary>
    public async Task ReceivedAsync(Guid messageId, int count)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (ReceivedOf(messageId) >= count)
                return;
            _waiters.Add((() => ReceivedOf(messageId) >= count, signal));
        }

        try
        {
            await signal.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            lock (_lock)
                throw new TimeoutException($"Only {ReceivedOf(messageId)} of {count} deliveries of message {messageId} were finished within 60 s.");
        }
    }

    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostReceive(ReceiveContext context)
    {
        Received(context);
        return Task.CompletedTask;
    }

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        Received(context);
        return Task.CompletedTask;
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

    int ReceivedOf(Guid messageId) => _received.Count(id => id == messageId);

    void Received(ReceiveContext context)
    {
        // A delivery the error pipe moved to the error queue is reported twice (ReceiveFault from the error pipe, then
        // PostReceive once the transport acknowledged it): it finished once.
        if (!ReceiveFinish.IsFirst(context))
            return;

        var messageId = context.GetMessageId();
        List<TaskCompletionSource> done = [];
        lock (_lock)
        {
            _received.Add(messageId);
            foreach (var waiter in _waiters.Where(w => w.Done()).ToList())
            {
                _waiters.Remove(waiter);
                done.Add(waiter.Signal);
            }
        }

        foreach (var signal in done)
            signal.TrySetResult();
    }

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
