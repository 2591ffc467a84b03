using Dedup.Testing;
using Dedup.Worker.Hosting;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// Red team 3 (issue 11): probes of the README's "Redis Cluster", "Quorum queues" and "RabbitMQ cluster" promises at unit
/// level. Tests whose name ends in <c>_Holds</c> are probes that held; the others fail and name the promise they break.
/// </summary>
public sealed class RedTeam3UnitTests
{
    /// <summary>
    /// Broken promise (README "The ledger: where to count executions"): keys are "per payment and per quote, each id under
    /// its own Redis Cluster hash tag", and <c>ledger:{&lt;paymentId&gt;}:payment</c> "is 1 however often it was delivered".
    /// An id with a brace is replaced in the tag by '#' and 32 hex digits of its SHA-256, but an id that is literally that
    /// text is used as it is: two different payments then share every ledger key (the execution counter, the entries).
    /// </summary>
    [Fact]
    public void LedgerKeys_AnIdThatSpellsAnotherIdsHashedTag_GetsKeysOfItsOwn()
    {
        const string braced = "{inv-1001}";
        var forged = LedgerKeys.Tag(braced); // "#" + 32 hex digits: a valid payment id in its own right
        var keys = new LedgerKeys("ledger:");

        Assert.NotEqual(braced, forged);
        Assert.NotEqual(keys.Payment(braced), keys.Payment(forged));
        Assert.NotEqual(keys.Entries(braced), keys.Entries(forged));
        Assert.NotEqual(keys.Quote(braced), keys.Quote(forged));
    }

    /// <summary>
    /// Broken promise (README "RabbitMQ cluster": "each <c>host[:port]</c>; a node without a port gets
    /// <c>RabbitMq__Port</c>"): the usual way to write an IPv6 address with a port, <c>[::1]:5673</c>, passes validation,
    /// but its port is silently dropped: the node becomes host "[::1]:5673" on the default port 5672. Either the port must
    /// be kept or the entry refused naming it.
    /// </summary>
    [Theory]
    [InlineData("[::1]:5673")]
    [InlineData("[fd00::10]:5673")]
    public void Nodes_BracketedIPv6WithPort_KeepsItsPortOrIsRefused(string host)
    {
        var settings = new RabbitMqSettings { Host = host };

        var failures = settings.Validate().ToArray();
        if (failures.Length > 0)
        {
            Assert.Contains("RabbitMq:Host", failures[0], StringComparison.Ordinal);
            return;
        }

        var node = Assert.Single(settings.Nodes);
        Assert.Equal(5673, node.Port);
        Assert.DoesNotContain("]:", node.Host, StringComparison.Ordinal);
    }

    /// <summary>
    /// Broken promise (RabbitMqSettings.TlsServerName: "Default: Host"; README "RabbitMQ cluster", TLS): a blank
    /// <c>RabbitMq__TlsServerName</c> (an empty or whitespace environment variable, as a compose file or a Helm chart
    /// leaves it) passes validation with one node and becomes the TLS server name itself, so every certificate check
    /// fails (RemoteCertificateNameMismatch) instead of using the host; with several nodes the same blank value is refused.
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void Endpoints_BlankTlsServerNameWithOneNode_UsesTheHostOrIsRefused(string blank)
    {
        var settings = new RabbitMqSettings { Host = "rabbit-a", UseTls = true, TlsServerName = blank };

        if (settings.Validate().Any())
            return;

        Assert.Equal("rabbit-a", Assert.Single(RabbitMqClient.Endpoints(settings)).Ssl.ServerName);
    }

    /// <summary>The blank value of the test above is what configuration binding gives for an empty environment variable.</summary>
    [Fact]
    public void Binding_EmptyTlsServerName_BindsAnEmptyString()
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["RabbitMq:TlsServerName"] = "" }).Build();
        var settings = new RabbitMqSettings();
        configuration.GetSection(RabbitMqSettings.Section).Bind(settings);

        Assert.Equal("", settings.TlsServerName);
    }

    /// <summary>Probe that held: RabbitMq:Host with spaces around entries, leading zeros in ports, a trailing space.</summary>
    [Fact]
    public void Nodes_SpacesAndLeadingZeros_Holds()
    {
        var settings = new RabbitMqSettings { Host = " rabbit-a:05673 ,\trabbit-b , rabbit-c:65535 " };

        Assert.Empty(settings.Validate());
        Assert.Equal(["rabbit-a:5673", "rabbit-b:5672", "rabbit-c:65535"], settings.Nodes.Select(n => n.ToString()));
    }

    /// <summary>Probe that held: malformed node lists are refused naming RabbitMq:Host.</summary>
    [Theory]
    [InlineData("rabbit-a,")]
    [InlineData("rabbit-a:65536")]
    [InlineData("rabbit-a:-1")]
    [InlineData("rabbit-a:")]
    [InlineData("amqp://rabbit-a")]
    [InlineData("rabbit-a,[::1]:5672")]
    public void Validate_MalformedNodeList_Holds(string host) =>
        Assert.Contains(new RabbitMqSettings { Host = host }.Validate(), f => f.StartsWith("RabbitMq:Host ", StringComparison.Ordinal));

    /// <summary>Probe that held: Worker:QueueType / Worker:DeliveryLimit validation names the setting and the value.</summary>
    [Theory]
    [InlineData(WorkerQueueType.Classic, 5, "applies to quorum queues only")]
    [InlineData(WorkerQueueType.Quorum, 0, "must be 1 to 10000")]
    [InlineData(WorkerQueueType.Quorum, 10_001, "must be 1 to 10000")]
    [InlineData((WorkerQueueType)7, null, "Worker:QueueType must be Classic or Quorum")]
    public void Validate_QueueTypeAndDeliveryLimit_Holds(WorkerQueueType type, int? limit, string expected)
    {
        var failures = new WorkerSettings { QueueType = type, DeliveryLimit = limit }.Validate().ToArray();

        Assert.Contains(failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    /// <summary>Probe that held: quorum queues declare limit, dead-letter route to _error, at-least-once; side queues have no limit.</summary>
    [Fact]
    public void QuorumArguments_EndpointAndSideQueues_Holds()
    {
        var settings = new WorkerSettings { QueueType = WorkerQueueType.Quorum, DeliveryLimit = 3 };
        var all = WorkerQueues.All(settings).ToDictionary(q => q.Queue, q => q.Arguments);

        Assert.Equal(9, all.Count);
        foreach (var queue in WorkerQueues.Names)
        {
            Assert.Equal(3, all[queue]["x-delivery-limit"]);
            Assert.Equal(queue + "_error", all[queue]["x-dead-letter-exchange"]);
            Assert.Equal("at-least-once", all[queue]["x-dead-letter-strategy"]);
            Assert.Equal("reject-publish", all[queue]["x-overflow"]);
            Assert.Equal(["x-queue-type"], all[queue + "_error"].Keys);
            Assert.Equal(["x-queue-type"], all[queue + "_skipped"].Keys);
        }
    }

    /// <summary>Probe that held: a ledger prefix with braces (which would move or empty the hash tag) is refused.</summary>
    [Theory]
    [InlineData("ledger{x}:")]
    [InlineData("ledger{}:")]
    [InlineData("ledger}")]
    public void LedgerKeyPrefix_WithBraces_Holds(string prefix) =>
        Assert.Contains(new LedgerSettings { KeyPrefix = prefix }.Validate(), f => f.StartsWith("Ledger:KeyPrefix", StringComparison.Ordinal));
}

/// <summary>Red team 3: the Redis ledger on the local three-master cluster (README "Redis Cluster", "The ledger").</summary>
[Trait("Needs", "Redis")]
[Collection(RedisClusterCollection.Name)]
public sealed class RedTeam3ClusterLedgerTests(RedisClusterFixture fixture) : IAsyncLifetime
{
    static readonly LedgerSettings Settings = new() { KeyPrefix = $"rt3-{Guid.NewGuid():N}:", Retention = TimeSpan.FromHours(1), MaxEntries = 3 };
    static readonly DedupOptions Dedup = new();

    ConnectionMultiplexer _redis = null!;
    RedisLedger _ledger = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(fixture.Cluster.ConnectionString);
        _ledger = new RedisLedger(_redis, Settings, Dedup);
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    static PaymentEntry Payment(string id, long epoch) =>
        new(id, 1m, "EUR", "payments", Guid.NewGuid().ToString(), new Fence($"dedup:{{s:{Guid.NewGuid():N}}}", epoch));

    /// <summary>
    /// Probe that held: ids with braces in every position, an empty tag, unicode, and a 64 KB id are written (fenced, so
    /// the script touches three keys) and read back on the cluster without CROSSSLOT, each counted once.
    /// </summary>
    [Theory]
    [InlineData("{a}")]
    [InlineData("a}b{c")]
    [InlineData("{}")]
    [InlineData("}{")]
    [InlineData("x{y}z")]
    [InlineData("支払{い}")]
    [InlineData("LONG")]
    public async Task Cluster_IdsWithBracesAndLongIds_OneSlotEach_Holds(string id)
    {
        if (id == "LONG")
            id = new string('p', 64 * 1024) + "{" + Guid.NewGuid();
        else
            id += Guid.NewGuid();

        await _ledger.RecordPaymentAsync(Payment(id, 1), default);

        Assert.Equal([1L], await _ledger.PaymentExecutionsAsync([id], default));
        var keys = new LedgerKeys(Settings.KeyPrefix);
        Assert.Equal(_redis.HashSlot(keys.Payment(id)), _redis.HashSlot(keys.Entries(id)));
        Assert.Equal(_redis.HashSlot(keys.Payment(id)), _redis.HashSlot(keys.Fence(id, "dedup:{x}")));
    }

    /// <summary>
    /// Broken promise (README "The ledger": <c>ledger:{&lt;paymentId&gt;}:payment</c> "is 1 however often it was
    /// delivered", keys per payment): on the cluster, a payment whose id is the '#'-hash text of another payment's
    /// braced id shows the other payment's execution as its own, so the traffic command's exactly-once check would
    /// count one payment that never ran as run (or two payments that ran once each as one run twice).
    /// </summary>
    [Fact]
    public async Task Cluster_PaymentWhoseIdSpellsAnotherIdsHashedTag_ShowsNoExecutionOfTheOther()
    {
        var braced = "{inv-" + Guid.NewGuid() + "}";
        var forged = LedgerKeys.Tag(braced);

        await _ledger.RecordPaymentAsync(Payment(braced, 1), default);

        Assert.Equal([1L, 0L], await _ledger.PaymentExecutionsAsync([braced, forged], default));
    }
}
