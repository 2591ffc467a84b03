using System.Globalization;
using Dedup.Testing;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>A wrong or unreachable configuration stops the worker at start with a non-zero exit and a message naming the setting.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
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
    public async Task SeveralInvalidSettings_ExitWithCode2_NamingEachOnItsOwnLine()
    {
        var environment = new Dictionary<string, string>
        {
            ["RabbitMq__Port"] = "0",
            ["Ledger__Retention"] = "00:00:10",
            ["Worker__PrefetchCount"] = "0",
            ["Dedup__Lease"] = "00:00:00.010",
        };

        await using var worker = await WorkerProcess.RunAsync(environment, Exit);

        Assert.Equal(2, worker.ExitCode);
        var failures = worker.Output.Split('\n').Where(line => line.StartsWith("  - ", StringComparison.Ordinal)).ToList();
        Assert.Contains(failures, f => f.StartsWith("  - RabbitMq:Port must be 1 to 65535; it is 0.", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("  - Ledger:Retention must be between", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("  - Worker:PrefetchCount must be 1 to 10000; it is 0.", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("  - Dedup:Lease must be between", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidSettingArgument_ExitsWithCode2_NamingTheSetting()
    {
        await using var worker = await WorkerProcess.RunAsync(new Dictionary<string, string>(), Exit, "--Worker:ConcurrentMessageLimit=0");

        Assert.Equal(2, worker.ExitCode);
        Assert.Contains("Worker:ConcurrentMessageLimit must be 1 to 1000; it is 0.", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Traffic_InvalidSetting_ExitsWithCode2_BeforeConnecting()
    {
        await using var traffic = await WorkerProcess.RunAsync(new Dictionary<string, string>(), Exit, "traffic", "--count", "10", "--RabbitMq:Host=amqp://localhost");

        Assert.Equal(2, traffic.ExitCode);
        Assert.Contains("RabbitMq:Host must be a host name or address", traffic.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("cannot start", traffic.Output, StringComparison.Ordinal);
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
