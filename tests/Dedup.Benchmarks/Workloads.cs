namespace Dedup.Benchmarks;

/// <summary>
/// The ids a row sends, made as it goes (a row runs for a fixed time, not a fixed count). Copies of one id are sent
/// together; the sender takes a credit per copy, so a burst's next id waits until every copy of the last one is done.
/// </summary>
public sealed class Workload
{
    /// <summary>Copies per id in a burst.</summary>
    public const int BurstCopies = 10;

    /// <summary>Simulated work per execution in a burst, so the copies overlap the original.</summary>
    public const int BurstWorkMs = 20;

    /// <summary>The workloads every transport runs, in table order.</summary>
    public static readonly string[] Names = ["unique", "dup30", "burst"];

    readonly Random _random;
    readonly List<Guid> _sent = [];

    Workload(string name, int copiesPerId, int workMs, Random random)
    {
        Name = name;
        CopiesPerId = copiesPerId;
        WorkMs = workMs;
        _random = random;
    }

    public string Name { get; }

    /// <summary>How many copies of each id go out at once (1, or <see cref="BurstCopies"/> for a burst).</summary>
    public int CopiesPerId { get; }

    /// <summary>The consumer's simulated work per execution.</summary>
    public int WorkMs { get; }

    /// <summary>How many distinct ids <see cref="NextId"/> handed out (each one a record for dedup).</summary>
    public int UniqueIds { get; private set; }

    public static Workload Create(string name, Random random) => name switch
    {
        "unique" or "dup30" => new Workload(name, 1, 0, random),
        // The seed's 100 ms polling makes bursts slow; a burst is about waking the copies, not volume.
        "burst" => new Workload(name, BurstCopies, BurstWorkMs, random),
        _ => throw new ArgumentException($"Unknown workload '{name}'; use one of {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>The next id to send (<see cref="CopiesPerId"/> times).</summary>
    public Guid NextId()
    {
        // dup30: 70% new ids, 30% repeat an id sent earlier in the row (a producer retry or a redelivery).
        if (Name == "dup30" && _sent.Count > 0 && _random.NextDouble() < 0.3)
            return _sent[_random.Next(_sent.Count)];

        var id = Guid.NewGuid();
        UniqueIds++;
        if (Name == "dup30")
            _sent.Add(id);
        return id;
    }
}
