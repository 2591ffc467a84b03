using System.Text.RegularExpressions;
using Dedup.Protocol;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Redis;

/// <summary>
/// A store on a connection the application owns must let go of it when disposed (issue 9, item 8): its
/// ConnectionRestored handler and its pub/sub handler stayed attached and kept calling into the disposed store.
/// </summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed partial class RedisSharedConnectionTests(RedisFixture redis)
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    [Fact]
    public async Task DisposeAsync_SharedConnection_ARestoredConnectionNoLongerWakesItsWaiters()
    {
        var name = "shared-" + Guid.NewGuid().ToString("N")[..8];
        using var connection = Connect(name);
        var store = RedisTestConnections.Store(connection, "shared:");
        var key = DedupKey.ForMessageId("shared:", DedupKey.Scope("shared"), Guid.NewGuid());
        await store.ClaimAsync(key, "owner", "fp", Lease, Retention, default); // subscribes
        var watch = store.Watch(key);
        await store.DisposeAsync();
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionRestored += (_, _) => restored.TrySetResult(); // runs after every handler attached before it

        await KillClientsAsync(name);
        await restored.Task.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.False(watch.Changed.IsCompleted, "the disposed store's ConnectionRestored handler woke its waiter");
    }

    [Fact]
    public async Task DisposeAsync_SharedConnection_ANotificationNoLongerReachesIt()
    {
        using var connection = Connect("shared-" + Guid.NewGuid().ToString("N")[..8]);
        var disposed = RedisTestConnections.Store(connection, "shared:");
        var live = RedisTestConnections.Store(connection, "shared:");
        var key = DedupKey.ForMessageId("shared:", DedupKey.Scope("shared"), Guid.NewGuid());
        await disposed.ClaimAsync(key, "owner", "fp", Lease, Retention, default); // subscribes
        await live.ClaimAsync(key, "owner", "fp", Lease, Retention, default); // subscribes too
        var stale = disposed.Watch(key);
        var waiting = live.Watch(key);
        await disposed.DisposeAsync();

        await connection.GetSubscriber().PublishAsync(RedisChannel.Literal("shared:__events"), key);
        await waiting.Changed.WaitAsync(TimeSpan.FromSeconds(10)); // the live store on the same connection got it

        Assert.False(stale.Changed.IsCompleted, "the disposed store's subscription handler woke its waiter");
    }

    ConnectionMultiplexer Connect(string clientName)
    {
        var options = ConfigurationOptions.Parse(redis.Server.ConnectionString);
        options.ClientName = clientName;
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 2000;
        options.AsyncTimeout = 2000;
        options.SyncTimeout = 2000;
        return ConnectionMultiplexer.Connect(options);
    }

    async Task KillClientsAsync(string clientName)
    {
        var ids = ClientLine().Matches(await redis.Server.CliAsync("CLIENT", "LIST"))
            .Where(m => m.Groups["name"].Value == clientName)
            .Select(m => m.Groups["id"].Value)
            .ToList();
        Assert.NotEmpty(ids);
        foreach (var id in ids)
            await redis.Server.CliAsync("CLIENT", "KILL", "ID", id);
    }

    [GeneratedRegex(@"^id=(?<id>\d+) .*? name=(?<name>\S*)", RegexOptions.Multiline)]
    private static partial Regex ClientLine();
}
