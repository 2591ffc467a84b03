using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Dedup.Filters.Tests.Filter;

/// <summary>Bad options stop the host at start with a message naming the option, the rule and the value.</summary>
public sealed class OptionsValidationTests
{
    static async Task<OptionsValidationException> StartWith(Action<DedupOptions> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDedup(configure).AddDedupInMemoryStore();
        using var host = builder.Build();
        return await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
    }

    [Theory]
    [InlineData("Lease", "Dedup:Lease must be between")]
    [InlineData("Retention", "Dedup:Retention must be longer than Dedup:Lease")]
    [InlineData("InFlightWait", "Dedup:InFlightWait must be between")]
    [InlineData("KeyPrefix", "Dedup:KeyPrefix must be 1 to 64 characters")]
    [InlineData("MaxReplyBytes", "Dedup:MaxReplyBytes must be 0 to 16777216")]
    [InlineData("StoreRetries", "Dedup:StoreRetries must be 0 to 10")]
    [InlineData("RedisBatchSize", "Dedup:RedisBatchSize must be 1 (every call alone) to 256; it is 0.")]
    public async Task BadValue_FailsStartNamingTheOption(string option, string expected)
    {
        var exception = await StartWith(o =>
        {
            switch (option)
            {
                case "Lease": o.Lease = TimeSpan.Zero; break;
                case "Retention": o.Retention = TimeSpan.FromSeconds(5); break;
                case "InFlightWait": o.InFlightWait = TimeSpan.FromSeconds(-1); break;
                case "KeyPrefix": o.KeyPrefix = "a{b}"; break;
                case "MaxReplyBytes": o.MaxReplyBytes = -1; break;
                case "StoreRetries": o.StoreRetries = 99; break;
                case "RedisBatchSize": o.RedisBatchSize = 0; break;
            }
        });

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Replicas", "Dedup:Durability:Replicas must be 0 (off) to 10; it is -1.")]
    [InlineData("Timeout", "Dedup:Durability:Timeout must be between 00:00:00.0010000 and 00:01:00; it is 00:00:00.")]
    [InlineData("AfterClaim", "Dedup:Durability:Timeout must be under a third of Dedup:Lease (00:00:30) when Dedup:Durability:AfterClaim is on")]
    [InlineData("OnTimeout", "Dedup:Durability:OnTimeout must be Fail or Accept; it is 7.")]
    [InlineData("Connections", "Dedup:Durability:Connections must be 1 to 64; it is 0.")]
    public async Task BadDurability_FailsStartNamingTheSetting(string setting, string expected)
    {
        var exception = await StartWith(o =>
        {
            o.Durability.Replicas = 1;
            switch (setting)
            {
                case "Replicas": o.Durability.Replicas = -1; break;
                case "Timeout": o.Durability.Timeout = TimeSpan.Zero; break; // WAIT 0 blocks for ever
                case "AfterClaim": (o.Durability.AfterClaim, o.Durability.Timeout) = (true, TimeSpan.FromSeconds(10)); break;
                case "OnTimeout": o.Durability.OnTimeout = (ReplicationTimeoutPolicy)7; break;
                case "Connections": o.Durability.Connections = 0; break;
            }
        });

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Durability_IsOffByDefault_AndItsTimeoutIsNotCheckedWhileOff()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDedup(o => o.Durability.Timeout = TimeSpan.Zero).AddDedupInMemoryStore();
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();

        Assert.Equal(0, host.Services.GetRequiredService<IOptions<DedupOptions>>().Value.Durability.Replicas);
    }

    [Fact]
    public void Durability_WithTheInMemoryStore_IsRefusedNamingTheSetting()
    {
        var services = new ServiceCollection().AddLogging().AddDedup(o => o.Durability.Replicas = 1).AddDedupInMemoryStore();
        using var provider = services.BuildServiceProvider();

        var exception = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Protocol.IDedupStore>());

        Assert.Contains("Dedup:Durability:Replicas is 1, but the in-memory store", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Durability_BindsFromConfiguration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dedup:Durability:Replicas"] = "2",
            ["Dedup:Durability:Timeout"] = "00:00:00.250",
            ["Dedup:Durability:AfterClaim"] = "true",
            ["Dedup:Durability:OnTimeout"] = "Accept",
        }).Build();
        var services = new ServiceCollection().AddDedup();
        services.AddOptions<DedupOptions>().Bind(configuration.GetSection("Dedup"));
        using var provider = services.BuildServiceProvider();

        var durability = provider.GetRequiredService<IOptions<DedupOptions>>().Value.Durability;

        Assert.Equal((2, TimeSpan.FromMilliseconds(250), true, ReplicationTimeoutPolicy.Accept, 4),
            (durability.Replicas, durability.Timeout, durability.AfterClaim, durability.OnTimeout, durability.Connections));
    }

    [Fact]
    public async Task BadValue_MessageIncludesTheValue()
    {
        var exception = await StartWith(o => o.Lease = TimeSpan.FromMilliseconds(5));

        Assert.Contains("it is 00:00:00.0050000", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Defaults_AreValid()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddDedup().AddDedupInMemoryStore();
        using var host = builder.Build();

        await host.StartAsync();
        await host.StopAsync();

        var options = host.Services.GetRequiredService<IOptions<DedupOptions>>().Value;
        Assert.Equal(TimeSpan.FromHours(24), options.Retention);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Lease);
        Assert.Equal(TimeSpan.FromSeconds(10), options.InFlightWait);
    }

    [Fact]
    public void NoStoreRegistered_SaysWhichCallIsMissing()
    {
        var services = new ServiceCollection().AddLogging().AddDedup();
        using var provider = services.BuildServiceProvider();

        var exception = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IDedupExecutor>());

        Assert.Contains("AddDedupRedisStore", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnparsableRedisConfiguration_IsRejectedNamingIt()
    {
        var exception = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddDedupRedisStore("localhost:6379,nonsense=1"));

        Assert.Contains("localhost:6379,nonsense=1", exception.Message, StringComparison.Ordinal);
    }
}
