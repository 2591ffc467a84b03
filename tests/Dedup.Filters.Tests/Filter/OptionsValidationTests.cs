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
            }
        });

        Assert.Contains(expected, exception.Message, StringComparison.Ordinal);
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

        var exception = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Execution.IDedupExecutor>());

        Assert.Contains("AddDedupRedisStore", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnparsableRedisConfiguration_IsRejectedNamingIt()
    {
        var exception = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddDedupRedisStore("localhost:6379,nonsense=1"));

        Assert.Contains("localhost:6379,nonsense=1", exception.Message, StringComparison.Ordinal);
    }
}
