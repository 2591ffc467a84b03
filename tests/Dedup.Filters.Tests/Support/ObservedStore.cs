using Dedup.Protocol;

namespace Dedup.Filters.Tests.Support;

/// <summary>A store decorator that lets a test await protocol events (waiters registered) instead of sleeping.</summary>
internal sealed class ObservedStore : IDedupStore
{
    readonly IDedupStore _inner;
    readonly Lock _lock = new();
    readonly List<(int Count, TaskCompletionSource Reached)> _watchTargets = [];
    int _watches;

    public ObservedStore(IDedupStore inner) => _inner = inner;

    public IDedupStore Inner => _inner;

    /// <summary>Completes once <paramref name="count"/> watches (waiting duplicates) have been registered in total.</summary>
    public Task WatchesRegistered(int count)
    {
        lock (_lock)
        {
            if (_watches >= count)
                return Task.CompletedTask;
            var target = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _watchTargets.Add((count, target));
            return target.Task;
        }
    }

    public ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken) =>
        _inner.ClaimAsync(key, owner, fingerprint, lease, retention, cancellationToken);

    public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken) =>
        _inner.RenewAsync(key, owner, epoch, lease, cancellationToken);

    public ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken) =>
        _inner.CompleteAsync(key, owner, epoch, result, retention, cancellationToken);

    public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken) =>
        _inner.ReleaseAsync(key, owner, epoch, cancellationToken);

    public KeyWatch Watch(string key)
    {
        var watch = _inner.Watch(key);
        lock (_lock)
        {
            _watches++;
            foreach (var target in _watchTargets.Where(t => t.Count <= _watches).ToList())
            {
                target.Reached.TrySetResult();
                _watchTargets.Remove(target);
            }
        }

        return watch;
    }
}
