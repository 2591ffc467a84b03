using System.Diagnostics;
using Dedup.Filters.Tests.Redis;
using Dedup.Stores;
using Dedup.Testing;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Dedup.Filters.Tests.Property;

/// <summary>
/// The claim protocol under random runs (issue 9, item 9): 3 or 4 owners on 1 or 2 keys claim, renew, complete and
/// release while time passes past leases and retentions and an operator deletes keys; <see cref="ProtocolRun"/>
/// checks every answer. A failing run is shrunk; shrunk counterexamples are kept as plain facts in
/// <see cref="ProtocolCounterexampleTests"/>.
/// </summary>
public sealed class InMemoryProtocolPropertyTests
{
    internal static readonly ProtocolTimings Timings = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500));

    [Property(MaxTest = 2000, Arbitrary = [typeof(ScenarioArbitrary)])]
    public Task Protocol_RandomRuns_KeepTheInvariants(Scenario scenario) => RunAsync(scenario);

    internal static async Task RunAsync(Scenario scenario)
    {
        var clock = new FakeClock();
        using var store = new InMemoryDedupStore(clock.Time);
        await ProtocolRun.CheckAsync(scenario, store, clock, key =>
        {
            store.Remove(key);
            return Task.CompletedTask;
        }, Timings, "property:");
    }

    sealed class FakeClock : IProtocolClock
    {
        readonly DateTimeOffset _start = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

        public FakeClock() => Time = new FakeTimeProvider(_start);

        public FakeTimeProvider Time { get; }

        public TimeSpan Now => Time.GetUtcNow() - _start;

        public TimeSpan Slack => TimeSpan.Zero;

        public Task PassAsync(TimeSpan time)
        {
            Time.Advance(time);
            return Task.CompletedTask;
        }
    }
}

/// <summary>The same runs against a real Redis with 200 ms leases; about 50 runs of up to 15 steps, 20 to 30 s.</summary>
[Trait("Needs", "Redis")]
[Collection("redis")]
public sealed class RedisProtocolPropertyTests(RedisFixture redis) : IDisposable
{
    internal static readonly ProtocolTimings Timings = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(500));

    readonly ConnectionMultiplexer _connection = RedisTestConnections.Connect(redis.Server.ConnectionString);

    public void Dispose() => _connection.Dispose();

    [Property(MaxTest = 50, Arbitrary = [typeof(ScenarioArbitrary)])]
    public Task Protocol_RandomRuns_KeepTheInvariants(Scenario scenario) => RunAsync(_connection, scenario);

    internal static async Task RunAsync(IConnectionMultiplexer connection, Scenario scenario)
    {
        var prefix = "property-" + Guid.NewGuid().ToString("N")[..8] + ":";
        await using var store = RedisTestConnections.Store(connection, prefix);
        var database = connection.GetDatabase();
        await ProtocolRun.CheckAsync(scenario, store, new RealClock(), key => database.KeyDeleteAsync(key), Timings, prefix);
    }

    sealed class RealClock : IProtocolClock
    {
        readonly long _start = Stopwatch.GetTimestamp();

        public TimeSpan Now => Stopwatch.GetElapsedTime(_start);

        // Redis stamps deadlines with its own clock; only its rate matters (the offset cancels out), so a few
        // milliseconds cover rounding to whole milliseconds and the server's clock reading.
        public TimeSpan Slack => TimeSpan.FromMilliseconds(10);

        public Task PassAsync(TimeSpan time) => Task.Delay(time);
    }
}
