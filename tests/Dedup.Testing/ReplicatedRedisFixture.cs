using Xunit;

namespace Dedup.Testing;

/// <summary>
/// An xunit fixture that starts one <see cref="ReplicatedRedis"/> pair for a test collection and removes it afterwards.
/// </summary>
/// <remarks>
/// Declared in the test assembly like <see cref="RedisFixture"/>:
/// <code>
/// [CollectionDefinition("replicated-redis")]
/// public sealed class ReplicatedRedisCollection : ICollectionFixture&lt;ReplicatedRedisFixture&gt; { }
/// </code>
/// Tests kill, promote, detach and freeze nodes: each test begins with <c>await Pair.RestoreAsync()</c>.
/// </remarks>
public sealed class ReplicatedRedisFixture : IAsyncLifetime
{
    private ReplicatedRedis? _pair;

    /// <summary>The running pair.</summary>
    /// <exception cref="InvalidOperationException">Before xunit has initialized the fixture.</exception>
    public ReplicatedRedis Pair => _pair ?? throw new InvalidOperationException(
        "ReplicatedRedisFixture.Pair is not started yet: use the fixture through ICollectionFixture<ReplicatedRedisFixture>.");

    /// <inheritdoc />
    public async Task InitializeAsync() => _pair = await ReplicatedRedis.StartAsync();

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_pair is not null)
        {
            await _pair.DisposeAsync();
        }
    }
}
