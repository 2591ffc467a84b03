using Dedup.Filters.Tests.Contract;
using Dedup.Filters.Tests.Filter;
using Dedup.Protocol;
using Dedup.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisStoreContractTests(RedisFixture redis) : StoreContractTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);
    IDedupStore? _store;

    private protected override IDedupStore Store => _store ??= RedisTestConnections.Store(_connection, "contract:");

    protected override Task RemoveKeyAsync(string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    // The store takes its times from the server's clock: only real time passes for it.
    protected override Task PassAsync(TimeSpan time) => Task.Delay(time);

    public void Dispose() => _connection.Dispose();
}

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisExecutorContractTests(RedisFixture redis) : ExecutorContractTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    protected override void AddStore(IServiceCollection services) => services.AddDedupRedisStore(_ => _connection);

    protected override Task RemoveKeyAsync(string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    public void Dispose() => _connection.Dispose();
}

[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisFilterTests(RedisFixture redis) : FilterTests, IDisposable
{
    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    protected override void AddStore(IServiceCollection services) => services.AddDedupRedisStore(_ => _connection);

    protected override Task RemoveKeyAsync(IServiceProvider provider, string key) => _connection.GetDatabase().KeyDeleteAsync(key);

    public void Dispose() => _connection.Dispose();
}
