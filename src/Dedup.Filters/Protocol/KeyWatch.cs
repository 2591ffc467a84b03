namespace Dedup.Protocol;

/// <summary>
/// One waiter's registration for the next change (completion or release) of a key. Dispose it when done.
/// </summary>
internal sealed class KeyWatch : IDisposable
{
    readonly TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Action<KeyWatch>? _unregister;

    /// <summary>Creates a watch on <paramref name="key"/>; <paramref name="unregister"/> runs on dispose.</summary>
    public KeyWatch(string key, Action<KeyWatch>? unregister)
    {
        Key = key;
        _unregister = unregister;
    }

    /// <summary>The watched key.</summary>
    public string Key { get; }

    /// <summary>Completes when the key was completed or released (or the watch was fired for any reason to re-check).</summary>
    public Task Changed => _changed.Task;

    /// <summary>Wakes the waiter.</summary>
    public void Fire() => _changed.TrySetResult();

    /// <inheritdoc />
    public void Dispose() => _unregister?.Invoke(this);
}
