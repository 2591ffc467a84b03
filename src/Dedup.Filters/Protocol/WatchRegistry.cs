namespace Dedup.Protocol;

/// <summary>The waiters of one process, by key; a store fires them when it learns that a key changed.</summary>
internal sealed class WatchRegistry
{
    readonly Dictionary<string, List<KeyWatch>> _watches = new(StringComparer.Ordinal);
    readonly Lock _lock = new();

    public KeyWatch Register(string key)
    {
        var watch = new KeyWatch(key, Unregister);
        lock (_lock)
        {
            if (!_watches.TryGetValue(key, out var list))
                _watches[key] = list = new List<KeyWatch>(1);
            list.Add(watch);
        }

        return watch;
    }

    /// <summary>Wakes every waiter of <paramref name="key"/>.</summary>
    public void Fire(string key)
    {
        KeyWatch[] fired;
        lock (_lock)
        {
            if (!_watches.Remove(key, out var list))
                return;
            fired = [.. list];
        }

        foreach (var watch in fired)
            watch.Fire();
    }

    /// <summary>Wakes every waiter (after a lost subscription, so each re-checks its key).</summary>
    public void FireAll()
    {
        KeyWatch[] fired;
        lock (_lock)
        {
            fired = [.. _watches.Values.SelectMany(l => l)];
            _watches.Clear();
        }

        foreach (var watch in fired)
            watch.Fire();
    }

    void Unregister(KeyWatch watch)
    {
        lock (_lock)
        {
            if (_watches.TryGetValue(watch.Key, out var list) && list.Remove(watch) && list.Count == 0)
                _watches.Remove(watch.Key);
        }
    }
}
