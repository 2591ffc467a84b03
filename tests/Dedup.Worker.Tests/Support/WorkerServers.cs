using Dedup.Testing;
using Xunit;

namespace Dedup.Worker.Tests.Support;

/// <summary>One Redis and one RabbitMQ for the whole worker suite; each test gets its own virtual host and key prefixes (<see cref="WorkerScope"/>).</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
public sealed class WorkerServers : IAsyncLifetime
{
    int _scopes;

    public RedisServer Redis { get; private set; } = null!;

    public RabbitMqServer RabbitMq { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var redis = RedisServer.StartAsync();
        var rabbitMq = RabbitMqServer.StartAsync();
        Redis = await redis;
        RabbitMq = await rabbitMq;
    }

    public async Task DisposeAsync()
    {
        if (RabbitMq is not null)
            await RabbitMq.DisposeAsync();
        if (Redis is not null)
            await Redis.DisposeAsync();
    }

    /// <summary>A fresh virtual host and key prefixes for one test.</summary>
    internal async Task<WorkerScope> NewScopeAsync(string name, string? redisConfiguration = null)
    {
        var id = $"{name}-{Interlocked.Increment(ref _scopes)}";
        await RabbitMq.CtlAsync("add_vhost", id);
        await RabbitMq.CtlAsync("set_permissions", "-p", id, RabbitMq.Username, ".*", ".*", ".*");
        return await WorkerScope.CreateAsync(this, id, redisConfiguration);
    }
}

[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[CollectionDefinition(Name)]
public sealed class WorkerCollection : ICollectionFixture<WorkerServers>
{
    public const string Name = "worker servers";
}
