using BenchmarkDotNet.Attributes;
using Dedup.Protocol;
using Dedup.Stores;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// The client's side of one script call, a claim of a completed key on a local Redis, sent the two ways
/// StackExchange.Redis offers (<c>-- micro --filter *ScriptSendBenchmarks*</c>): by its text, which the library looks
/// up per call in a per-server table keyed by the whole text, and by a SHA-1 computed once, as the store sends it.
/// The server's work is the same both ways; the difference is the client's.
/// </summary>
[MemoryDiagnoser]
public class ScriptSendBenchmarks
{
    static readonly byte[] ClaimHash = new RedisScript("claim", RedisScripts.Claim).Hash;

    RedisServer _redis = null!;
    ConnectionMultiplexer _connection = null!;
    IDatabase _database = null!;
    RedisKey[] _keys = null!;
    RedisValue[] _values = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _redis = await RedisServer.StartAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        _database = _connection.GetDatabase();
        var key = DedupKey.ForMessageId("bench:", DedupKey.Scope("script-send"), Guid.NewGuid());
        _keys = [key];
        _values = [DedupKey.NewOwnerToken(), "fingerprint00000", 60_000, 3_600_000];
        // A completed record: every call below is a duplicate, one HMGET on the server, the same work both ways.
        await _database.HashSetAsync(key, [new("s", "c"), new("o", "owner"), new("e", 1), new("f", "fingerprint00000")]);
        await _database.ScriptEvaluateAsync(RedisScripts.Claim, _keys, _values);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
    }

    // 256 calls in flight per invocation: the figure is per call, and the client's CPU shows in it instead of
    // hiding behind one round trip's wait.
    [Benchmark(Baseline = true, OperationsPerInvoke = InFlight)]
    public Task ByText() => Pipelined(() => _database.ScriptEvaluateAsync(RedisScripts.Claim, _keys, _values));

    [Benchmark(OperationsPerInvoke = InFlight)]
    public Task ByHash() => Pipelined(() => _database.ScriptEvaluateAsync(ClaimHash, _keys, _values));

    const int InFlight = 256;

    static Task Pipelined(Func<Task<RedisResult>> call)
    {
        var calls = new Task[InFlight];
        for (var i = 0; i < calls.Length; i++)
            calls[i] = call();
        return Task.WhenAll(calls);
    }
}
