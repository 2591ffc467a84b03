using BenchmarkDotNet.Attributes;
using Dedup.Pipeline;
using Dedup.Protocol;

namespace Dedup.Benchmarks;

/// <summary>The filter's hot paths per message, with allocations (<c>-- micro</c>).</summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    static readonly string Scope = DedupKey.Scope("/payments|Billing.ChargeConsumer");
    static readonly Guid MessageId = Guid.NewGuid();
    static readonly BenchMessage Message = new(Guid.NewGuid(), 0);
    static readonly List<(object Message, Type Type)> Replies = [(new BenchMessage(Guid.NewGuid(), 2), typeof(BenchMessage))];
    static readonly byte[] StoredReplies = ResultRecord.Encode(Replies, 64 * 1024);

    // A MassTransit envelope as it arrives: the fingerprint is taken over its "message" part, canonicalised.
    static readonly byte[] Envelope = System.Text.Encoding.UTF8.GetBytes(
        "{\"messageId\":\"" + MessageId + "\",\"messageType\":[\"urn:message:Dedup.Benchmarks:BenchMessage\"],\"headers\":{},"
        + "\"message\":{\"key\":\"" + Message.Key + "\",\"workMs\":0}}");

    [Benchmark]
    public string KeyForMessageId() => DedupKey.ForMessageId("dedup:", Scope, MessageId);

    [Benchmark]
    public string KeyForCustomKey() => DedupKey.ForCustomKey("dedup:", Scope, "payment-42");

    [Benchmark]
    public string ScopeHash() => DedupKey.Scope("/payments|Billing.ChargeConsumer");

    [Benchmark]
    public string Fingerprint() => MessageFingerprint.Compute(Envelope, "application/vnd.masstransit+json", Scope);

    [Benchmark]
    public byte[] EncodeEmptyResultRecord() => ResultRecord.Encode([], 64 * 1024);

    [Benchmark]
    public byte[] EncodeResultRecord() => ResultRecord.Encode(Replies, 64 * 1024);

    [Benchmark]
    public int DecodeResultRecord() => ResultRecord.Decode(StoredReplies).Messages().Count();
}
