using System.Collections.Concurrent;
using Dedup.Protocol;

namespace Dedup.Filters.Tests.Contract;

/// <summary>
/// Owner tokens fence every write with the epoch; two claims in flight must never share one. Keys are built in place:
/// they must stay byte for byte what earlier versions wrote, or records already in Redis would be missed.
/// </summary>
public sealed class OwnerTokenTests
{
    [Theory]
    [InlineData("dedup:", "e73oPwRqcDs")]
    [InlineData("", "x")]
    [InlineData("tenant-42:dedup:", "AAAAAAAAAAA")]
    public void ForMessageId_IsPrefixBraceScopeColonBase64UrlIdBrace(string prefix, string scope)
    {
        var id = Guid.NewGuid();
        var expected = prefix + "{" + scope + ":" + System.Buffers.Text.Base64Url.EncodeToString(id.ToByteArray()) + "}";

        Assert.Equal(expected, DedupKey.ForMessageId(prefix, scope, id));
    }

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
