using Dedup.Protocol;

namespace Dedup.Filters.Tests.Support;

/// <summary>
/// The in-memory store (or any other) behind a decorator whose claim, renew and complete calls take time on a clock,
/// fail on demand, and can be awaited and read back, each through its own <see cref="ScriptedCalls"/>. Releases and
/// watches pass straight through.
/// </summary>
internal sealed class ScriptedStore(IDedupStore inner, TimeProvider time) : IDedupStore
{
    public ScriptedCalls Claims { get; } = new(time);

    public ScriptedCalls Renewals { get; } = new(time);

    public ScriptedCalls Completions { get; } = new(time);

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        await Claims.EnterAsync(cancellationToken);
        return await inner.ClaimAsync(key, owner, fingerprint, lease, retention, cancellationToken);
    }

    public async ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken)
    {
        await Renewals.EnterAsync(cancellationToken);
        return await inner.RenewAsync(key, owner, epoch, lease, cancellationToken);
    }

    public async ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken)
    {
        await Completions.EnterAsync(cancellationToken);
        return await inner.CompleteAsync(key, owner, epoch, result, retention, cancellationToken);
    }

    public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
        inner.ReleaseAsync(key, owner, epoch, cancellationToken);

    public KeyWatch Watch(string key) => inner.Watch(key);
}

/// <summary>The script of one store operation: how long each call takes, which calls fail, when each call started.</summary>
internal sealed class ScriptedCalls(TimeProvider time)
{
    readonly Lock _lock = new();
    readonly Dictionary<int, TaskCompletionSource> _called = [];
    readonly List<DateTimeOffset> _startedAt = [];

    /// <summary>The exception the given call (1-based) throws once it has taken its time, or null to reach the store.</summary>
    public Func<int, Exception?> Failure { get; set; } = _ => null;

    /// <summary>How long the given call takes on the clock before it answers or fails.</summary>
    public Func<int, TimeSpan> Takes { get; set; } = _ => TimeSpan.Zero;

    /// <summary>How many calls were made.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _startedAt.Count;
        }
    }

    /// <summary>When each call started, on the clock, in order.</summary>
    public IReadOnlyList<DateTimeOffset> StartedAt
    {
        get
        {
            lock (_lock)
                return [.. _startedAt];
        }
    }

    /// <summary>Completes once the given call (1-based) has started.</summary>
    public Task Called(int call) => Signal(call).Task;

    internal async ValueTask EnterAsync(CancellationToken cancellationToken)
    {
        int call;
        lock (_lock)
        {
            _startedAt.Add(time.GetUtcNow());
            call = _startedAt.Count;
        }

        Signal(call).TrySetResult();
        if (Takes(call) is var takes && takes > TimeSpan.Zero)
            await Task.Delay(takes, time, cancellationToken);
        if (Failure(call) is { } failure)
            throw failure;
    }

    TaskCompletionSource Signal(int call)
    {
        lock (_lock)
        {
            if (!_called.TryGetValue(call, out var source))
                _called[call] = source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return source;
        }
    }
}
