using Dedup.Protocol;

namespace Dedup.Filters.Tests.Support;

/// <summary>
/// A store decorator that stands for a process killed after its work's side effect and before the completion: while
/// <see cref="Crashing"/> is set, a completion is answered "ok" without reaching the store (the message is acked as
/// if nothing happened, but the record stays in progress) and that owner's renewals stop reaching it too. The store
/// then sees exactly what a SIGKILL leaves: a claim whose lease runs out.
/// </summary>
internal sealed class CrashingStore(IDedupStore inner) : IDedupStore
{
    readonly HashSet<string> _dead = [];
    readonly Lock _lock = new();

    /// <summary>The next completion "crashes"; reset after one.</summary>
    public bool Crashing { get; set; }

    readonly TaskCompletionSource _crashed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once a completion has crashed.</summary>
    public Task Crashed => _crashed.Task;

    /// <summary>The epochs of the owners that crashed, in order.</summary>
    public List<long> CrashedEpochs { get; } = [];

    /// <summary>Every claim outcome the store answered, in order.</summary>
    public List<ClaimOutcome> Outcomes { get; } = [];

    public async ValueTask<ClaimResult> ClaimAsync(string key, string owner, string fingerprint, TimeSpan lease, TimeSpan retention, CancellationToken cancellationToken)
    {
        var result = await inner.ClaimAsync(key, owner, fingerprint, lease, retention, cancellationToken);
        lock (_lock)
            Outcomes.Add(result.Outcome);
        return result;
    }

    public ValueTask<bool> RenewAsync(string key, string owner, long epoch, TimeSpan lease, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_dead.Contains(owner))
                return new(true);
        }

        return inner.RenewAsync(key, owner, epoch, lease, cancellationToken);
    }

    public ValueTask<bool> CompleteAsync(string key, string owner, long epoch, ReadOnlyMemory<byte> result, TimeSpan retention, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (Crashing)
            {
                Crashing = false;
                _dead.Add(owner);
                CrashedEpochs.Add(epoch);
                _crashed.TrySetResult();
                return new(true);
            }
        }

        return inner.CompleteAsync(key, owner, epoch, result, retention, cancellationToken);
    }

    public ValueTask<bool> ReleaseAsync(string key, string owner, long epoch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_dead.Contains(owner))
                return new(true);
        }

        return inner.ReleaseAsync(key, owner, epoch, cancellationToken);
    }

    public KeyWatch Watch(string key) => inner.Watch(key);
}
