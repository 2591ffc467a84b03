using System.Globalization;
using Dedup.Testing;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>A wrong or unreachable configuration stops the worker at start with a non-zero exit and a message naming the setting.</summary>
[Collection(WorkerCollection.Name)]
public sealed class ConfigurationTests(WorkerServers servers)
{
    static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("RabbitMq__Port", "0", "RabbitMq:Port")]
    [InlineData("RabbitMq__Port", "not-a-port", "RabbitMq:Port")]
    [InlineData("RabbitMq__Host", "amqp://localhost", "RabbitMq:Host")]
    [InlineData("Redis__Configuration", "", "Redis:Configuration")]
    [InlineData("Dedup__Lease", "00:00:00.010", "Dedup:Lease")]
    [InlineData("Dedup__InFlight", "Sometimes", "Dedup:InFlight")]
    [InlineData("Worker__ConsumerStopTimeout", "00:01:00", "Worker:ConsumerStopTimeout")]
    [InlineData("Telemetry__Exporter", "Zipkin", "Telemetry:Exporter")]
    [InlineData("Ledger__Retention", "00:00:10", "Ledger:Retention")]
    [InlineData("Worker__QueueType", "Stream", "Worker:QueueType")]
    [InlineData("Worker__DeliveryLimit", "5", "Worker:DeliveryLimit applies to quorum queues only")]
    [InlineData("Worker__Health__Address", "localhost", "Worker:Health:Address")]
    public async Task InvalidSetting_ExitsWithCode2_NamingTheSetting(string variable, string value, string setting)
    {
        await using var worker = await WorkerProcess.RunAsync(new Dictionary<string, string> { [variable] = value }, Exit);

        Assert.Equal(2, worker.ExitCode);
        Assert.Contains(setting, worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RabbitMqUnreachable_ExitsWithCode3_NamingTheSettings()
    {
        await using var scope = await servers.NewScopeAsync("down");
        var environment = new Dictionary<string, string>(scope.Environment)
        {
            ["RabbitMq__Port"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["RabbitMq__ConnectTimeout"] = "00:00:02",
        };

        await using var worker = await WorkerProcess.RunAsync(environment, Exit);

        Assert.Equal(3, worker.ExitCode);
        Assert.Contains("RabbitMq:Host, RabbitMq:Port", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RabbitMqWrongPassword_ExitsWithCode3_NamingThePassword()
    {
        await using var scope = await servers.NewScopeAsync("auth");
        var environment = new Dictionary<string, string>(scope.Environment) { ["RabbitMq__Password"] = "wrong" };

        await using var worker = await WorkerProcess.RunAsync(environment, Exit);

        Assert.Equal(3, worker.ExitCode);
        Assert.Contains("RabbitMq:Password", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisUnreachable_ExitsWithCode3_NamingTheSetting()
    {
        await using var scope = await servers.NewScopeAsync("noredis");
        var environment = new Dictionary<string, string>(scope.Environment)
        {
            ["Redis__Configuration"] = $"127.0.0.1:{FreePort.Next()}",
            ["Redis__ConnectTimeout"] = "00:00:02",
        };

        await using var worker = await WorkerProcess.RunAsync(environment, Exit);

        Assert.Equal(3, worker.ExitCode);
        Assert.Contains("Redis:Configuration", worker.Output, StringComparison.Ordinal);
    }
}
