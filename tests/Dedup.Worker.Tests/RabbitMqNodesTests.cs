using System.Globalization;
using Dedup.Testing;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary><c>RabbitMq:Host</c> naming the nodes of a cluster: parsed, validated, and used to connect to a node that answers.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class RabbitMqNodesTests(WorkerServers servers)
{
    [Fact]
    public void Nodes_SeveralWithAndWithoutPorts_EachGetsItsOwnPortOrTheSetting()
    {
        var settings = new RabbitMqSettings { Host = "rabbit-a, rabbit-b:5673,10.0.0.3", Port = 5680 };

        Assert.Empty(settings.Validate());
        Assert.Equal(["rabbit-a:5680", "rabbit-b:5673", "10.0.0.3:5680"], settings.Nodes.Select(n => n.ToString()));
        Assert.Equal("amqp://rabbit-a:5680,rabbit-b:5673,10.0.0.3:5680/%2F", settings.Describe());
    }

    [Fact]
    public void Nodes_OneIPv6Address_IsOneHostWithTheDefaultPort()
    {
        var settings = new RabbitMqSettings { Host = "::1" };

        Assert.Empty(settings.Validate());
        Assert.Equal(new RabbitMqNode("::1", 5672), Assert.Single(settings.Nodes));
    }

    [Theory]
    [InlineData("rabbit-a,rabbit-b:port", "the port of 'rabbit-b:port'")]
    [InlineData("rabbit-a,,rabbit-c", "an entry names no host")]
    [InlineData("rabbit-a:0", "the port of 'rabbit-a:0'")]
    [InlineData("rabbit a,rabbit-b", "no spaces")]
    [InlineData("rabbit-a,::1", "an IPv6 address cannot be one of them")]
    public void Validate_MalformedNodeList_NamesTheSettingAndTheEntry(string host, string reason)
    {
        var failure = Assert.Single(new RabbitMqSettings { Host = host }.Validate());

        Assert.StartsWith("RabbitMq:Host ", failure, StringComparison.Ordinal);
        Assert.Contains(reason, failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralNodesWithTlsAndNoServerName_AsksForTlsServerName()
    {
        var failure = Assert.Single(new RabbitMqSettings { Host = "rabbit-a,rabbit-b", UseTls = true }.Validate());

        Assert.StartsWith("RabbitMq:TlsServerName must be set", failure, StringComparison.Ordinal);
        Assert.Empty(new RabbitMqSettings { Host = "rabbit-a,rabbit-b", UseTls = true, TlsServerName = "rabbitmq.internal" }.Validate());
    }

    /// <summary>
    /// A node that refuses connections (a free port nobody listens on) in the list: the start-up check's and the health
    /// check's connection goes to the node that answers. (The bus moves on too, after MassTransit's retry interval of a
    /// few seconds: deploy/rabbitmq-cluster/run-local-cluster.sh shows it with a node stopped.)
    /// </summary>
    [Fact]
    public async Task Connect_OneNodeRefusing_ConnectsToTheNodeThatAnswers()
    {
        var rabbitMq = servers.RabbitMq;
        var settings = new RabbitMqSettings
        {
            Host = string.Create(CultureInfo.InvariantCulture, $"{rabbitMq.Host}:{FreePort.Next()},{rabbitMq.Host}:{rabbitMq.Port},{rabbitMq.Host}:{FreePort.Next()}"),
            Username = rabbitMq.Username,
            Password = rabbitMq.Password,
        };

        for (var attempt = 0; attempt < 3; attempt++)
        {
            await using var connection = await RabbitMqClient.ConnectAsync(settings, "nodes test", CancellationToken.None);
            Assert.Equal(rabbitMq.Port, connection.Endpoint.Port);
        }
    }

    [Fact]
    public async Task Connect_NoNodeAnswers_NamesEveryNodeAndTheSettings()
    {
        var settings = new RabbitMqSettings { Host = $"127.0.0.1:{FreePort.Next()},127.0.0.1:{FreePort.Next()}", ConnectTimeout = TimeSpan.FromSeconds(2) };

        var failure = await Assert.ThrowsAsync<StartupCheckException>(() => RabbitMqClient.ConnectAsync(settings, "nodes test", CancellationToken.None));

        Assert.Contains(settings.Describe(), failure.Message, StringComparison.Ordinal);
        Assert.Contains("no node accepted", failure.Message, StringComparison.Ordinal);
        Assert.Contains("RabbitMq:Host", failure.Message, StringComparison.Ordinal);
    }
}
