namespace Dedup.Benchmarks;

/// <summary>The ids a row sends, in order; copies in one group are sent at the same time.</summary>
public static class Workloads
{
    /// <summary>Copies per id in a burst.</summary>
    public const int BurstCopies = 10;

    /// <summary>Simulated work per execution in a burst, so the copies overlap the original.</summary>
    public const int BurstWorkMs = 20;

    public static List<Guid[]> Build(string workload, int messages, Random random)
    {
        var groups = new List<Guid[]>(messages);
        switch (workload)
        {
            case "unique":
                for (var i = 0; i < messages; i++)
                    groups.Add([Guid.NewGuid()]);
                break;
            case "dup30":
                // 70% new ids; 30% repeat an id sent earlier (a producer retry or a redelivery).
                var sent = new List<Guid>(messages);
                for (var i = 0; i < messages; i++)
                {
                    var id = sent.Count > 0 && random.NextDouble() < 0.3 ? sent[random.Next(sent.Count)] : Guid.NewGuid();
                    sent.Add(id);
                    groups.Add([id]);
                }

                break;
            case "burst":
                for (var i = 0; i < messages / BurstCopies; i++)
                {
                    var id = Guid.NewGuid();
                    groups.Add(Enumerable.Repeat(id, BurstCopies).ToArray());
                }

                break;
            default:
                throw new ArgumentException($"Unknown workload '{workload}'.", nameof(workload));
        }

        return groups;
    }
}
