using System.Text.RegularExpressions;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>
/// Every store failure that is not a bug in our own scripts fails closed (issue 9, item 4): a Redis error outside
/// a fixed list used to escape as a raw <see cref="RedisServerException"/>, and the message went to the error queue.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed partial class RedisErrorTests(RedisFixture redis) : IDisposable
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    static string NewKey() => DedupKey.ForMessageId("errors:", DedupKey.Scope("redis-errors"), Guid.NewGuid());

    [Fact]
    public async Task Claim_NotEnoughReplicas_FailsClosed()
    {
        var store = RedisTestConnections.Store(_connection);
        await redis.Server.CliAsync("CONFIG", "SET", "min-replicas-to-write", "1");
        try
        {
            var refused = await Assert.ThrowsAsync<DedupStoreUnavailableException>(() =>
                store.ClaimAsync(NewKey(), "owner", "fp", Lease, Retention, default).AsTask());

            Assert.Contains("NOREPLICAS", refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            await redis.Server.CliAsync("CONFIG", "SET", "min-replicas-to-write", "0");
        }
    }

    [Fact]
    public async Task Claim_RedisCannotPersist_FailsClosed()
    {
        // Its own server: pointing 'dir' somewhere unwritable needs protected configs enabled. /proc refuses new
        // files even to root, so the BGSAVE fails and stop-writes-on-bgsave-error turns writes away with MISCONF.
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { ExtraArgs = ["--enable-protected-configs", "yes"] });
        using var connection = RedisTestConnections.Connect(server.ConnectionString);
        var store = RedisTestConnections.Store(connection);
        await server.CliAsync("CONFIG", "SET", "save", "3600 1");
        await server.CliAsync("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes");
        await server.CliAsync("CONFIG", "SET", "dir", "/proc");
        await server.CliAsync("BGSAVE");
        await WaitForFailedSaveAsync(server);

        var refused = await Assert.ThrowsAsync<DedupStoreUnavailableException>(() =>
            store.ClaimAsync(NewKey(), "owner", "fp", Lease, Retention, default).AsTask());

        Assert.Contains("MISCONF", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CLUSTERDOWN The cluster is down")]
    [InlineData("MOVED 3999 127.0.0.1:6381")]
    [InlineData("NOAUTH Authentication required.")]
    [InlineData("WRONGPASS invalid username-password pair or user is disabled.")]
    [InlineData("NOPERM this user has no permissions to run the 'evalsha' command")]
    [InlineData("ERR max number of clients reached")]
    [InlineData("SOMENEWCODE a condition Redis adds later")]
    public void IsStoreFailure_ServerConditions_AreTransient(string message) =>
        Assert.True(Dedup.Stores.RedisDedupStore.IsStoreFailure(ServerError(message)));

    [Theory]
    [InlineData("ERR user_script:5: attempt to perform arithmetic on a nil value script: e8f647a6, on @user_script:5.")]
    [InlineData("ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")]
    [InlineData("ERR value is not an integer or out of range script: 2248ea7f, on @user_script:3.")]
    public void IsStoreFailure_ErrorsOfOurOwnScripts_AreBugsNotTransient(string message) =>
        Assert.False(Dedup.Stores.RedisDedupStore.IsStoreFailure(ServerError(message)));

    // The classification reads the text Redis sent, not the client's kind.
    static RedisServerException ServerError(string message) => new(RedisErrorKind.Unknown, CommandFlags.None, message);

    static async Task WaitForFailedSaveAsync(RedisServer server)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!BgsaveFailed().IsMatch(await server.CliAsync(["INFO", "persistence"], timeout.Token)))
            await Task.Delay(20, timeout.Token);
    }

    [GeneratedRegex(@"rdb_last_bgsave_status:err")]
    private static partial Regex BgsaveFailed();
}
