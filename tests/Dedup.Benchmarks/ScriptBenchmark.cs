using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Dedup.Diagnostics;
using Dedup.Protocol;
using Dedup.Stores;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// The claim protocol's scripts on an idle Redis, through the library's own store (<c>-- scripts</c>): claim of a new
/// key, complete, and claim of a completed key (a duplicate), each for a fixed time, one call in flight and then many.
/// Server time per call comes from <c>INFO commandstats</c> (usec of evalsha and eval: the script with the commands it
/// runs, no network I/O); Redis CPU per call from <c>INFO cpu</c> (everything the server did, I/O included).
/// </summary>
public sealed class ScriptBenchmark(string connectionString, RedisGauges gauges, TimeSpan phase)
{
    static readonly int[] InFlightLevels = [1, 64];
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    public async Task<List<ScriptRow>> RunAsync()
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(connectionString);
        using var metrics = new DedupMetrics();
        await using var store = new RedisDedupStore(connection, ownsConnection: false, "bench:", metrics, NullLogger.Instance);
        var scope = DedupKey.Scope("/bench|Dedup.Benchmarks.BenchConsumer");
        var fingerprint = DedupKey.NewOwnerToken(); // a 16-character stand-in for the payload hash
        var rows = new List<ScriptRow>();

        // Warm-up: connection, script cache (the first call of each script is an EVAL), JIT.
        await RunPhaseAsync("warm-up", 8, TimeSpan.FromSeconds(0.5), async _ =>
        {
            var key = DedupKey.ForMessageId("bench:", scope, Guid.NewGuid());
            var owner = DedupKey.NewOwnerToken();
            var claim = await store.ClaimAsync(key, owner, fingerprint, Lease, Retention, CancellationToken.None);
            await store.CompleteAsync(key, owner, claim.Epoch, ReadOnlyMemory<byte>.Empty, Retention, CancellationToken.None);
            await store.ClaimAsync(key, DedupKey.NewOwnerToken(), fingerprint, Lease, Retention, CancellationToken.None);
            return true;
        });

        foreach (var inFlight in InFlightLevels)
        {
            await gauges.FlushAllAsync();
            var claimed = new ConcurrentQueue<(string Key, string Owner, long Epoch)>();
            rows.Add(await RunPhaseAsync("claim (new key)", inFlight, phase, async _ =>
            {
                var key = DedupKey.ForMessageId("bench:", scope, Guid.NewGuid());
                var owner = DedupKey.NewOwnerToken();
                var result = await store.ClaimAsync(key, owner, fingerprint, Lease, Retention, CancellationToken.None);
                Expect(result.Outcome == ClaimOutcome.Claimed, $"a claim of a new key answered {result.Outcome}");
                claimed.Enqueue((key, owner, result.Epoch));
                return true;
            }));

            // Completes the keys just claimed, until they run out or the phase's time is up.
            var completed = new ConcurrentBag<string>();
            rows.Add(await RunPhaseAsync("complete", inFlight, phase, async _ =>
            {
                if (!claimed.TryDequeue(out var claim))
                    return false;
                var ok = await store.CompleteAsync(claim.Key, claim.Owner, claim.Epoch, ReadOnlyMemory<byte>.Empty, Retention, CancellationToken.None);
                Expect(ok, "a complete by the owner answered lost");
                completed.Add(claim.Key);
                return true;
            }));

            var keys = completed.ToArray();
            var next = -1;
            rows.Add(await RunPhaseAsync("claim (duplicate)", inFlight, phase, async _ =>
            {
                var key = keys[(int)((uint)Interlocked.Increment(ref next) % (uint)keys.Length)];
                var result = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), fingerprint, Lease, Retention, CancellationToken.None);
                Expect(result.Outcome == ClaimOutcome.Duplicate, $"a claim of a completed key answered {result.Outcome}");
                return true;
            }));
        }

        return rows;
    }

    /// <summary>Runs <paramref name="call"/> from <paramref name="inFlight"/> loops until the time is up or a call returns false.</summary>
    async Task<ScriptRow> RunPhaseAsync(string operation, int inFlight, TimeSpan duration, Func<int, Task<bool>> call)
    {
        var before = await gauges.ReadAsync();
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var calls = 0;
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(worker => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline && await call(worker))
                Interlocked.Increment(ref calls);
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var after = await gauges.ReadAsync();

        var serverCalls = Scripts.Sum(c => after.CallsOf(c) - before.CallsOf(c));
        var serverUsec = Scripts.Sum(c => after.UsecOf(c) - before.UsecOf(c));
        return new ScriptRow(
            operation,
            inFlight,
            calls,
            Math.Round(seconds, 3),
            Math.Round(calls / seconds, 0),
            serverCalls == 0 ? 0 : Math.Round((double)serverUsec / serverCalls, 2),
            calls == 0 ? 0 : Math.Round((after.CpuSeconds - before.CpuSeconds) * 1e6 / calls, 2));
    }

    static readonly string[] Scripts = ["evalsha", "eval"];

    static void Expect(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException($"Script benchmark: {what}; the scripts or the store changed under the benchmark.");
    }

    public static string Markdown(IReadOnlyList<ScriptRow> rows, string header)
    {
        var text = new StringBuilder();
        text.AppendLine(header);
        text.AppendLine();
        text.AppendLine("| script call | in flight | calls/s | server us/call (commandstats) | Redis CPU us/call (INFO cpu) | calls | seconds |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Operation} | {r.InFlight} | {r.CallsPerSec:0} | {r.ServerUsPerCall:0.0} | {r.RedisCpuUsPerCall:0.0} | {r.Calls} | {r.Seconds:0.0} |"));
        return text.ToString();
    }
}

/// <summary>One script call measured for a fixed time (a row of artifacts/bench/scripts.json).</summary>
public sealed record ScriptRow(
    [property: JsonPropertyName("operation")] string Operation,
    [property: JsonPropertyName("inFlight")] int InFlight,
    [property: JsonPropertyName("calls")] int Calls,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("callsPerSec")] double CallsPerSec,
    [property: JsonPropertyName("serverUsPerCall")] double ServerUsPerCall,
    [property: JsonPropertyName("redisCpuUsPerCall")] double RedisCpuUsPerCall);
