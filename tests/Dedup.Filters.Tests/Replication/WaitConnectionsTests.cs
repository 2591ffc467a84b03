using System.Diagnostics;
using Dedup.Stores;
using Dedup.Testing;

namespace Dedup.Filters.Tests.Replication;

/// <summary>The store's own connections for WAIT (<see cref="WaitConnections"/>) end with the store.</summary>
[Trait("Needs", "Redis")]
public sealed class WaitConnectionsTests
{
    // A connection still opening when the store is disposed used to be skipped: once it opened it stayed, reconnecting
    // for the life of the process. Here it opens only after the dispose (the server is frozen until then).
    [Fact]
    public async Task DisposeAsync_WhileAConnectionIsStillOpening_ThatConnectionIsClosedOnceItOpens()
    {
        await using var server = await RedisServer.StartAsync();
        var connections = new WaitConnections(server.ConnectionString + ",connectTimeout=3000", size: 1, wait: TimeSpan.FromSeconds(1));
        await server.PauseProcessAsync();
        var borrow = connections.BorrowAsync(CancellationToken.None);

        await connections.DisposeAsync();
        await server.ResumeProcessAsync();
        try
        {
            using var lease = await borrow;
        }
        catch (ObjectDisposedException)
        {
            // The borrower may see the connection closed under it: the store is gone.
        }

        // Once no wait connection is left, none may come back for a while (a live one would reconnect).
        var clock = Stopwatch.StartNew();
        var quietSince = TimeSpan.MaxValue;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            var open = (await server.CliAsync("CLIENT", "LIST")).Contains("name=dedup-wait", StringComparison.Ordinal);
            if (open)
                quietSince = TimeSpan.MaxValue;
            else if (quietSince == TimeSpan.MaxValue)
                quietSince = clock.Elapsed;
            else if (clock.Elapsed - quietSince > TimeSpan.FromSeconds(2))
                return;
            await Task.Delay(100);
        }

        Assert.Fail("A connection for WAIT opened after the store was disposed is still connected to Redis.");
    }
}
