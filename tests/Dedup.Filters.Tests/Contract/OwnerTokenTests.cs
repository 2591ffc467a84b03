using System.Collections.Concurrent;
using Dedup.Protocol;

namespace Dedup.Filters.Tests.Contract;

/// <summary>Owner tokens fence every write with the epoch; two claims in flight must never share one.</summary>
public sealed class OwnerTokenTests
{
    [Fact]
    public void NewOwnerToken_IsSixteenBase64UrlCharacters_AndNeverRepeatsAcrossThreads()
    {
        var tokens = new ConcurrentBag<string>();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 50_000; i++)
                tokens.Add(DedupKey.NewOwnerToken());
        });

        Assert.Equal(400_000, tokens.Distinct().Count());
        Assert.All(tokens.Take(1000), t => Assert.Matches("^[A-Za-z0-9_-]{16}$", t));
    }
}
