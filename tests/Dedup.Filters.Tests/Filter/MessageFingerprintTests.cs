using System.Text;
using Dedup.Pipeline;
using Dedup.Protocol;
using Dedup.Stores;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Dedup.Filters.Tests.Filter;

/// <summary>
/// The payload fingerprint is taken from the body as received (issue 9 B): copies of the same bytes fingerprint equal
/// whatever contract the consumer deserialises them into.
/// </summary>
public sealed class MessageFingerprintTests
{
    const string EnvelopeJson = "application/vnd.masstransit+json";
    const string RawJson = "application/json";
    static readonly string Scope = DedupKey.Scope("/payments|Billing.ChargeConsumer");

    static string Envelope(string message, string messageId = "9f7c0000-0000-0000-0000-000000000001", string sentTime = "2026-12-01T10:00:00Z",
        string messageType = "urn:message:Billing:ChargePayment", string headers = "{}") =>
        $$"""
        {
          "messageId": "{{messageId}}",
          "conversationId": "9f7c0000-0000-0000-0000-0000000000c0",
          "sourceAddress": "rabbitmq://localhost/producer",
          "destinationAddress": "rabbitmq://localhost/payments",
          "messageType": ["{{messageType}}"],
          "message": {{message}},
          "sentTime": "{{sentTime}}",
          "headers": {{headers}},
          "host": { "machineName": "producer-1", "processId": 4242 }
        }
        """;

    static string Fingerprint(string body, string? contentType = EnvelopeJson, string? scope = null) =>
        MessageFingerprint.Compute(Encoding.UTF8.GetBytes(body), contentType, scope ?? Scope);

    [Fact]
    public void Compute_SameBytes_SameSixteenCharacterFingerprint()
    {
        var body = Envelope("""{"paymentId":"5d4c0000-0000-0000-0000-000000000001","amount":10.50}""");

        var first = Fingerprint(body);

        Assert.Equal(first, Fingerprint(body));
        Assert.Equal(16, first.Length);
        Assert.Matches("^[A-Za-z0-9_-]{16}$", first);
    }

    [Fact]
    public void Compute_PropertiesReorderedAndOtherWhitespace_SameFingerprint()
    {
        var compact = Envelope("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4242","brand":"visa"},"tags":["a","b"]}""");
        var reordered = Envelope("""
            {
                "tags" : [ "a" , "b" ],
                "card" : { "brand" : "visa", "last4" : "4242" },
                "amount" : 10.50,
                "paymentId" : "5d4c"
            }
            """);

        Assert.Equal(Fingerprint(compact), Fingerprint(reordered));
    }

    [Fact]
    public void Compute_LargeObjectReordered_SameFingerprint()
    {
        var members = Enumerable.Range(0, 100).Select(i => $"\"p{i:D3}\":{i}").ToArray();

        Assert.Equal(Fingerprint(Envelope("{" + string.Join(",", members) + "}")),
            Fingerprint(Envelope("{" + string.Join(",", members.Reverse()) + "}")));
        Assert.NotEqual(Fingerprint(Envelope("{" + string.Join(",", members) + "}")),
            Fingerprint(Envelope("{" + string.Join(",", members.Skip(1)) + "}")));
    }

    [Theory]
    [InlineData("""{"paymentId":"5d4c","amount":10.51,"card":{"last4":"4242"},"tags":["a","b"]}""")] // a number
    [InlineData("""{"paymentId":"5d4d","amount":10.50,"card":{"last4":"4242"},"tags":["a","b"]}""")] // a string
    [InlineData("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4243"},"tags":["a","b"]}""")] // a nested value
    [InlineData("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4242"},"tags":["b","a"]}""")] // array order
    [InlineData("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4242"},"tags":["a","b"],"note":null}""")] // a property more
    [InlineData("""{"paymentId":"5d4c","amount":"10.50","card":{"last4":"4242"},"tags":["a","b"]}""")] // a number sent as a string
    public void Compute_ChangedValue_DifferentFingerprint(string changed)
    {
        var original = Envelope("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4242"},"tags":["a","b"]}""");

        Assert.NotEqual(Fingerprint(original), Fingerprint(Envelope(changed)));
    }

    [Fact]
    public void Compute_EnvelopeFieldsChangedMessageEqual_SameFingerprint()
    {
        const string message = """{"paymentId":"5d4c","amount":10.50}""";
        var sent = Envelope(message);
        var resent = Envelope(message, messageId: "9f7c0000-0000-0000-0000-0000000000ff", sentTime: "2026-12-01T10:05:00Z",
            headers: """{"MT-Redelivery-Count":1,"x-retry":"yes"}""");

        Assert.Equal(Fingerprint(sent), Fingerprint(resent));
    }

    // The scope (endpoint + consumer) already separates consumers; the message type is left out so that a contract
    // renamed or moved in a rolling deploy still fingerprints its copies equal.
    [Fact]
    public void Compute_MessageTypeRenamed_SameFingerprint()
    {
        const string message = """{"paymentId":"5d4c","amount":10.50}""";

        Assert.Equal(Fingerprint(Envelope(message)), Fingerprint(Envelope(message, messageType: "urn:message:Billing.V2:ChargePaymentCommand")));
    }

    [Fact]
    public void Compute_OtherScope_DifferentFingerprint()
    {
        var body = Envelope("""{"paymentId":"5d4c"}""");

        Assert.NotEqual(Fingerprint(body), Fingerprint(body, scope: DedupKey.Scope("/payments|Audit.AuditConsumer")));
    }

    [Fact]
    public void Compute_RawJson_CanonicalisesTheWholeBody()
    {
        const string body = """{"paymentId":"5d4c","amount":10.50,"message":{"text":"hi"}}""";
        const string reordered = """{ "message": { "text": "hi" }, "amount": 10.50, "paymentId": "5d4c" }""";
        const string changedOutsideMessage = """{"paymentId":"5d4c","amount":99,"message":{"text":"hi"}}""";

        Assert.Equal(Fingerprint(body, RawJson), Fingerprint(reordered, RawJson));
        Assert.Equal(Fingerprint(body, RawJson), Fingerprint(reordered, "application/json; charset=utf-8"));
        Assert.NotEqual(Fingerprint(body, RawJson), Fingerprint(changedOutsideMessage, RawJson)); // not unwrapped as an envelope
    }

    [Fact]
    public void Compute_StringsWithEscapes_AreComparedByTheirValue()
    {
        const string plain = """{"name":"Zoë \"Z\"","path":"a/b"}""";
        const string escaped = """{"path":"a\/b","name":"Zo\u00eb \u0022Z\u0022"}""";

        Assert.Equal(Fingerprint(plain, RawJson), Fingerprint(escaped, RawJson));
        Assert.NotEqual(Fingerprint(plain, RawJson), Fingerprint("""{"name":"Zoe \"Z\"","path":"a/b"}""", RawJson));
    }

    [Fact]
    public void Compute_NonJsonBody_FingerprintsTheRawBytes()
    {
        const string xml = "<ChargePayment><Amount>10.50</Amount></ChargePayment>";

        Assert.Equal(Fingerprint(xml, "application/vnd.masstransit+xml"), Fingerprint(xml, "application/vnd.masstransit+xml"));
        Assert.NotEqual(Fingerprint(xml, "application/vnd.masstransit+xml"),
            Fingerprint("<ChargePayment> <Amount>10.50</Amount></ChargePayment>", "application/vnd.masstransit+xml"));
        Assert.Equal(16, MessageFingerprint.Compute([0x00, 0xFF, 0x10], "application/octet-stream", Scope).Length);
        Assert.Equal(16, MessageFingerprint.Compute([0x00, 0xFF, 0x10], null, Scope).Length);
    }

    [Theory]
    [InlineData("""{"paymentId":"5d4c",""")] // truncated
    [InlineData("""not json at all""")]
    [InlineData("""{"messageId":"x","headers":{}}""")] // an envelope without a message
    public void Compute_JsonContentTypeButNotTheExpectedJson_FallsBackToTheRawBytes(string body)
    {
        var fingerprint = Fingerprint(body);

        Assert.Equal(fingerprint, Fingerprint(body));
        Assert.NotEqual(fingerprint, Fingerprint(body + " "));
    }

    // On the hot path (every message): after warm-up the only allocation is the 16-character result.
    [Fact]
    public void Compute_Envelope_AllocatesOnlyTheResult()
    {
        var body = Encoding.UTF8.GetBytes(Envelope("""{"paymentId":"5d4c","amount":10.50,"card":{"last4":"4242","brand":"visa"},"note":"caf\u00e9"}"""));
        MessageFingerprint.Compute(body, EnvelopeJson, Scope);

        var before = GC.GetAllocatedBytesForCurrentThread();
        MessageFingerprint.Compute(body, EnvelopeJson, Scope);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange(allocated, 0, 128);
    }

    [Fact]
    public void Compute_DeeplyNestedJson_DoesNotThrow()
    {
        var body = new string('[', 5000) + new string(']', 5000);

        Assert.Equal(16, Fingerprint(body, RawJson).Length);
    }
}

/// <summary>Version 1 of a contract, as the producer and the old consumer know it.</summary>
[MessageUrn("Dedup.Tests:RollingCharge")]
public sealed record RollingChargeV1(Guid PaymentId, decimal Amount);

/// <summary>Version 2 of the same contract (same URN): it gained one optional property with a default.</summary>
[MessageUrn("Dedup.Tests:RollingCharge")]
public sealed record RollingChargeV2(Guid PaymentId, decimal Amount, string Currency = "EUR", int Priority = 5);

/// <summary>Records the fingerprint each contract's consumer computes from its <see cref="ConsumeContext"/>.</summary>
public sealed class FingerprintProbe
{
    public TaskCompletionSource<(string Fingerprint, object Message)> V1 { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource<(string Fingerprint, object Message)> V2 { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public sealed class RollingChargeV1Probe(FingerprintProbe probe) : IConsumer<RollingChargeV1>
{
    public Task Consume(ConsumeContext<RollingChargeV1> context)
    {
        probe.V1.TrySetResult((MessageFingerprint.Compute(context.ReceiveContext, "scope"), context.Message));
        return Task.CompletedTask;
    }
}

public sealed class RollingChargeV2Probe(FingerprintProbe probe) : IConsumer<RollingChargeV2>
{
    public Task Consume(ConsumeContext<RollingChargeV2> context)
    {
        probe.V2.TrySetResult((MessageFingerprint.Compute(context.ReceiveContext, "scope"), context.Message));
        return Task.CompletedTask;
    }
}

/// <summary>One consumer class during a rolling deploy, reduced to one process: it takes both versions of the contract.</summary>
public sealed class RollingChargeConsumer(Ledger ledger) : IConsumer<RollingChargeV1>, IConsumer<RollingChargeV2>
{
    public Task Consume(ConsumeContext<RollingChargeV1> context) => Run(context.Message.PaymentId);

    public Task Consume(ConsumeContext<RollingChargeV2> context) => Run(context.Message.PaymentId);

    Task Run(Guid paymentId)
    {
        ledger.Runs.AddOrUpdate(paymentId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

/// <summary>Fingerprints computed from a real <see cref="ConsumeContext"/> on the harness (in-memory transport, real bodies).</summary>
public sealed class MessageFingerprintConsumeTests : BusTestBase
{
    protected override void AddStore(IServiceCollection services) => services.AddDedupInMemoryStore();

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key)
    {
        ((InMemoryDedupStore)provider.GetRequiredService<IDedupStore>()).Remove(key);
        return Task.CompletedTask;
    }

    // Issue 9 B, reproduced over RabbitMQ: copy 2 of a v1 message met the v2 consumer, whose contract gained an
    // optional property; re-serialising what it deserialised gave another fingerprint and a conflict.
    [Fact]
    public async Task Compute_ConsumerContractGainedAnOptionalProperty_SameFingerprintFromTheSameBytes()
    {
        var probe = new FingerprintProbe();
        await using var bus = await StartAsync(o => o.Exclude<RollingChargeV1>().Exclude<RollingChargeV2>(), x =>
        {
            x.AddSingleton(probe);
            x.AddConsumer<RollingChargeV1Probe>();
            x.AddConsumer<RollingChargeV2Probe>();
        });
        var payment = new RollingChargeV1(Guid.NewGuid(), 10.5m);

        await Publish(bus, payment, Guid.NewGuid());
        var v1 = await probe.V1.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var v2 = await probe.V2.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(new RollingChargeV2(payment.PaymentId, 10.5m, "EUR", 5), v2.Message); // v2 read the v1 bytes
        Assert.Equal(v1.Fingerprint, v2.Fingerprint);
    }

    // The same, through the filter: one key, two contracts. Before the fix the second contract's copy was a conflict
    // and went to the error queue (DedupConflictException).
    [Fact]
    public async Task Filter_SameBytesReadByTwoContractVersions_IsADuplicateNotAConflict()
    {
        await using var bus = await StartAsync(o => o.InFlightWait = TimeSpan.FromSeconds(30), x => x.AddConsumer<RollingChargeConsumer>());
        var payment = new RollingChargeV1(Guid.NewGuid(), 10.5m);

        await Publish(bus, payment, Guid.NewGuid());
        await bus.ConsumedAsync<RollingChargeV1>(1);
        await bus.ConsumedAsync<RollingChargeV2>(1);

        Assert.All(bus.Deliveries.Of<RollingChargeV1>().Concat(bus.Deliveries.Of<RollingChargeV2>()), Assert.Null);
        Assert.Equal(1, bus.Ledger.RunsOf(payment.PaymentId));
    }
}
