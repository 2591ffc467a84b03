namespace Dedup.Pipeline;

/// <summary>How long a message is held before it goes back to the broker after its n-th transient failure.</summary>
internal static class RedeliveryBackoff
{
    /// <summary>
    /// The shortest hold, also when <see cref="DedupOptions.RedeliveryDelay"/> is 0: a message whose dedup step fails
    /// at once (Redis at maxmemory answers OOM in microseconds) would otherwise go round as fast as the broker can
    /// deliver it (measured: 1622 deliveries of one message in 3 s).
    /// </summary>
    public static readonly TimeSpan Floor = TimeSpan.FromMilliseconds(50);

    /// <summary><paramref name="first"/> (at least <see cref="Floor"/>) doubled per failure after the first, at most <paramref name="max"/>.</summary>
    /// <param name="first">The hold after the first failure (<see cref="DedupOptions.RedeliveryDelay"/>).</param>
    /// <param name="max">The longest hold (<see cref="DedupOptions.MaxRedeliveryDelay"/>).</param>
    /// <param name="attempt">Which transient failure of the message this is, from 1.</param>
    public static TimeSpan Delay(TimeSpan first, TimeSpan max, int attempt)
    {
        var delay = first < Floor ? Floor : first;
        var cap = max < delay ? delay : max;
        for (var failure = 1; failure < attempt && delay < cap; failure++)
            delay += delay;
        return delay < cap ? delay : cap;
    }
}
