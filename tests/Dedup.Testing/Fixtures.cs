using Xunit;

namespace Dedup.Testing;

/// <summary>
/// An xunit fixture that starts one <see cref="RedisServer"/> (default options) for a test collection and removes it
/// afterwards.
/// </summary>
/// <remarks>
/// xunit only finds collection definitions in the test assembly itself, so each test project declares its own:
/// <code>
/// [CollectionDefinition("redis")]
/// public sealed class RedisCollection : ICollectionFixture&lt;RedisFixture&gt; { }
///
/// [Collection("redis")]
/// public sealed class MyRedisTests(RedisFixture redis)
/// {
///     [Fact]
///     public async Task Ping() => Assert.Equal("PONG", await redis.Server.CliAsync("PING"));
/// }
/// </code>
/// Tests in one collection share the server and run one after another; use distinct keys or FLUSHALL between tests.
/// A test that needs other options (AOF, a memory limit) or stops/pauses the server should start its own
/// <see cref="RedisServer"/> with <c>await using</c>.
/// </remarks>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServer? _server;

    /// <summary>The running server.</summary>
    /// <exception cref="InvalidOperationException">Before xunit has initialized the fixture.</exception>
    public RedisServer Server => _server ?? throw new InvalidOperationException(
        "RedisFixture.Server is not started yet: use the fixture through ICollectionFixture<RedisFixture> or IClassFixture<RedisFixture>.");

    /// <inheritdoc />
    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>
/// An xunit fixture that starts one <see cref="RabbitMqServer"/> for a test collection and removes it afterwards.
/// </summary>
/// <remarks>
/// Declared in the test assembly like <see cref="RedisFixture"/>:
/// <code>
/// [CollectionDefinition("rabbitmq")]
/// public sealed class RabbitMqCollection : ICollectionFixture&lt;RabbitMqFixture&gt; { }
/// </code>
/// A local node takes a few seconds to start, so share it: give each test its own queue names.
/// </remarks>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    private RabbitMqServer? _server;

    /// <summary>The running broker.</summary>
    /// <exception cref="InvalidOperationException">Before xunit has initialized the fixture.</exception>
    public RabbitMqServer Server => _server ?? throw new InvalidOperationException(
        "RabbitMqFixture.Server is not started yet: use the fixture through ICollectionFixture<RabbitMqFixture> or IClassFixture<RabbitMqFixture>.");

    /// <inheritdoc />
    public async Task InitializeAsync() => _server = await RabbitMqServer.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
