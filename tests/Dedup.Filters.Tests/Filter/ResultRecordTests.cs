using Dedup.Pipeline;
using Xunit.Abstractions;

namespace Dedup.Filters.Tests.Filter;

/// <summary>The result record's encoding: what a stored reply costs and that it round-trips.</summary>
public sealed class ResultRecordTests(ITestOutputHelper output)
{
    [Fact]
    public void NoReply_StoresNothing()
    {
        Assert.Empty(ResultRecord.Encode([], 64 * 1024));
        Assert.Same(ResultRecord.Empty, ResultRecord.Decode(ReadOnlyMemory<byte>.Empty));
    }

    [Fact]
    public void SmallReply_RoundTrips_AndStaysCompact()
    {
        var reply = new QuoteReply("apple", 19m, Guid.NewGuid());

        var bytes = ResultRecord.Encode([(reply, typeof(QuoteReply))], 64 * 1024);
        var decoded = ResultRecord.Decode(bytes).Messages().Single();

        output.WriteLine($"a QuoteReply adds {bytes.Length} bytes to its record");
        Assert.Equal(reply, decoded.Message);
        Assert.Equal(typeof(QuoteReply), decoded.Type);
        Assert.InRange(bytes.Length, 1, 200);
    }

    [Fact]
    public void ReplyOverTheLimit_IsReplacedByASizeNote()
    {
        var bytes = ResultRecord.Encode([(new QuoteReply(new string('x', 500), 1m, Guid.NewGuid()), typeof(QuoteReply))], 100);
        var decoded = ResultRecord.Decode(bytes);

        Assert.True(decoded.TooLarge);
        Assert.True(decoded.Size > 500);
        Assert.Empty(decoded.Replies);
    }

    [Fact]
    public void Fault_RecordsTheExceptionChain()
    {
        var bytes = ResultRecord.EncodeFault(new InvalidOperationException("outer", new TimeoutException("inner")));
        var decoded = ResultRecord.Decode(bytes);

        Assert.Equal(["outer", "inner"], decoded.Fault!.Select(e => e.Message));
        Assert.Contains("InvalidOperationException", decoded.Fault![0].ExceptionType, StringComparison.Ordinal);
    }
}
