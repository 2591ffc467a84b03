using Microsoft.Extensions.Time.Testing;

namespace Dedup.Filters.Tests.Support;

/// <summary>
/// A fake clock that also says when a timer was armed on it (a <c>Task.Delay</c> on it began, a timer was set): the
/// point a test awaits before it moves the clock, so a loop that arms its next wait on another thread (after a
/// <c>CancelAsync</c>, say) has armed it from the time the test meant, not from a later one.
/// </summary>
internal sealed class ObservedClock(DateTimeOffset start) : FakeTimeProvider(start)
{
    readonly Lock _lock = new();
    readonly List<DateTimeOffset> _armed = [];
    readonly List<(DateTimeOffset At, TaskCompletionSource Signal)> _waiting = [];

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var at = GetUtcNow() + dueTime;
        var timer = new ObservedTimer(this, base.CreateTimer(callback, state, dueTime, period));
        Armed(dueTime, at);
        return timer;
    }

    /// <summary>
    /// Completes once a timer has been armed (since the start) to fire at <paramref name="at"/>; fails after
    /// <paramref name="bound"/> of real time, naming the instants that were armed instead.
    /// </summary>
    public async Task ArmedFor(DateTimeOffset at, TimeSpan bound)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_armed.Contains(at))
                return;
            _waiting.Add((at, signal));
        }

        try
        {
            await signal.Task.WaitAsync(bound);
        }
        catch (TimeoutException)
        {
            lock (_lock)
                throw new TimeoutException($"No timer was armed to fire at +{at - Start} within {bound}; armed: {string.Join(", ", _armed.Select(a => $"+{a - Start}"))}.");
        }
    }

    void Armed(TimeSpan dueTime, DateTimeOffset at)
    {
        if (dueTime == Timeout.InfiniteTimeSpan)
            return;
        List<TaskCompletionSource> woken;
        lock (_lock)
        {
            _armed.Add(at);
            woken = [.. _waiting.Where(w => w.At == at).Select(w => w.Signal)];
            _waiting.RemoveAll(w => w.At == at);
        }

        foreach (var signal in woken)
            signal.TrySetResult();
    }

    sealed class ObservedTimer(ObservedClock clock, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var at = clock.GetUtcNow() + dueTime;
            var changed = inner.Change(dueTime, period);
            clock.Armed(dueTime, at);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
