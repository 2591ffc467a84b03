using Xunit;

namespace Dedup.Testing;

/// <summary>
/// An xunit fixture that starts one <see cref="RedisCluster"/> (three masters, no replicas) for a test collection and
/// removes it afterwards.
/// </summary>
/// <remarks>
/// Declared in the test assembly like <see cref="RedisFixture"/>:
/// <code>
/// [CollectionDefinition("redis cluster")]
/// public sealed class RedisClusterCollection : ICollectionFixture&lt;RedisClusterFixture&gt; { }
/// </code>
/// Tests in one collection share the cluster: give each test its own key prefix. A test that stops, pauses or fails
/// over nodes should start its own <see cref="RedisCluster"/> with <c>await using</c>, or a fixture of its own made by
/// deriving from this class with other <see cref="RedisClusterOptions"/> (replicas, say).
/// </remarks>
public class RedisClusterFixture : IAsyncLifetime
{
    private readonly RedisClusterOptions _options;
    private RedisCluster? _cluster;

    /// <summary>Three masters, no replicas.</summary>
    public RedisClusterFixture()
        : this(new RedisClusterOptions())
    {
    }

    /// <summary>A cluster laid out by <paramref name="options"/>.</summary>
    protected RedisClusterFixture(RedisClusterOptions options) => _options = options;

    /// <summary>The running cluster.</summary>
    /// <exception cref="InvalidOperationException">Before xunit has initialized the fixture.</exception>
    public RedisCluster Cluster => _cluster ?? throw new InvalidOperationException(
        "RedisClusterFixture.Cluster is not started yet: use the fixture through ICollectionFixture<RedisClusterFixture> or IClassFixture<RedisClusterFixture>.");

    /// <inheritdoc />
    public async Task InitializeAsync() => _cluster = await RedisCluster.StartAsync(_options);

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
