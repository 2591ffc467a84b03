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
/// The claim protocol's scripts on an idle Redis (<c>-- scripts</c>): claim of a new key, complete, and claim of a
/// completed key (a duplicate), each for a fixed time, one call in flight and then many; in interleaved rounds, each
/// figure the median over rounds with its min-max spread.
/// </summary>
/// <remarks>
/// Two ways to send the same script bodies: <b>evalsha</b>, through the library's own store (what a worker runs), and
/// <b>fcall</b>, the bodies loaded once as a Redis Functions library (<c>FUNCTION LOAD</c>) and called with
/// <c>FCALL</c> (issue 12 asks for the comparison). Server time per call comes from <c>INFO commandstats</c> (usec of
/// evalsha, eval and fcall: the script with the commands it runs, no network I/O); Redis CPU per call from
/// <c>INFO cpu</c> (everything the server did, I/O included); client CPU per call is this whole process's CPU time
/// (<see cref="Process.TotalProcessorTime"/>) over the calls, so it includes the calling loops and idle threads.
/// Bytes per record: <c>used_memory</c> growth from the empty server to the completed records, per record (no reply).
/// With <paramref name="callgrind"/> (<c>-- scripts --callgrind</c>) each phase is a fixed number of calls, 8 in flight,
/// one round, and the figure is the instructions the server ran inside the script commands per call
/// (<see cref="CallgrindRedis"/>): the one that does not move with the machine's load.
/// </remarks>
public sealed class ScriptBenchmark(string connectionString, RedisGauges gauges, TimeSpan phase, int rounds, CallgrindRedis? callgrind = null)
{
    const int CallgrindCalls = 2000;
    static readonly int[] InFlightLevels = [1, 64];
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Retention = TimeSpan.FromHours(1);
    static readonly string[] Scripts = ["evalsha", "eval", "fcall"];
    const string Prefix = "bench:";

    public async Task<List<ScriptRow>> RunAsync()
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(connectionString);
        using var metrics = new DedupMetrics();
        await using var store = new RedisDedupStore(connection, ownsConnection: false, Prefix, metrics, NullLogger.Instance);
        await using var batched = new RedisDedupStore(connection, ownsConnection: false, Prefix, metrics, NullLogger.Instance, RedisBatching.Default);
        var variants = new IScriptCalls[] { new StoreCalls(store, "evalsha"), new StoreCalls(batched, "evalsha-batched"), new FunctionCalls(connection.GetDatabase()) };
        var scope = DedupKey.Scope("/bench|Dedup.Benchmarks.BenchConsumer");
        var fingerprint = DedupKey.NewOwnerToken(); // a 16-character stand-in for the payload hash
        var measured = new List<ScriptRow>();

        foreach (var variant in variants)
        {
            await variant.LoadAsync();
            // Warm-up: connection, script cache, JIT.
            await RunPhaseAsync(variant.Name, "warm-up", 8, TimeSpan.FromSeconds(0.5), async _ =>
            {
                var key = DedupKey.ForMessageId(Prefix, scope, Guid.NewGuid());
                var owner = DedupKey.NewOwnerToken();
                var claim = await variant.ClaimAsync(key, owner, fingerprint);
                await variant.CompleteAsync(key, owner, claim.Epoch);
                await variant.ClaimAsync(key, DedupKey.NewOwnerToken(), fingerprint);
                return true;
            });
        }

        if (callgrind is not null)
        {
            foreach (var variant in variants)
                measured.AddRange(await RunVariantAsync(variant, 8, scope, fingerprint));
            return measured;
        }

        for (var round = 1; round <= rounds; round++)
        {
            // Interleaved: evalsha, fcall in odd rounds, fcall, evalsha in even ones.
            foreach (var variant in round % 2 == 1 ? variants : Enumerable.Reverse(variants))
            {
                foreach (var inFlight in InFlightLevels)
                    measured.AddRange(await RunVariantAsync(variant, inFlight, scope, fingerprint));
                Console.WriteLine($"round {round}/{rounds}, {variant.Name} done");
            }
        }

        return [.. measured
            .GroupBy(r => (r.Variant, r.Operation, r.InFlight))
            .Select(g => ScriptRow.MedianOf([.. g]))];
    }

    async Task<ScriptRow[]> RunVariantAsync(IScriptCalls variant, int inFlight, string scope, string fingerprint)
    {
        await gauges.FlushAllAsync();
        var emptyMemory = await gauges.UsedMemoryAsync();
        var claimed = new ConcurrentQueue<(string Key, string Owner, long Epoch)>();
        var claim = await RunPhaseAsync(variant.Name, "claim (new key)", inFlight, phase, async _ =>
        {
            var key = DedupKey.ForMessageId(Prefix, scope, Guid.NewGuid());
            var owner = DedupKey.NewOwnerToken();
            var (outcome, epoch) = await variant.ClaimAsync(key, owner, fingerprint);
            Expect(outcome == ClaimOutcome.Claimed, $"{variant.Name}: a claim of a new key answered {outcome}");
            claimed.Enqueue((key, owner, epoch));
            return true;
        });

        // Completes the keys just claimed, until they run out or the phase's time is up.
        var completed = new ConcurrentBag<string>();
        var complete = await RunPhaseAsync(variant.Name, "complete", inFlight, phase, async _ =>
        {
            if (!claimed.TryDequeue(out var c))
                return false;
            Expect(await variant.CompleteAsync(c.Key, c.Owner, c.Epoch), $"{variant.Name}: a complete by the owner answered lost");
            completed.Add(c.Key);
            return true;
        });
        // The claims left over (if complete ran out of time) are records too; bytes per record counts only when none are.
        var bytesPerRecord = claimed.IsEmpty && !completed.IsEmpty
            ? (double)(await gauges.UsedMemoryAsync() - emptyMemory) / completed.Count
            : (double?)null;

        var keys = completed.ToArray();
        var next = -1;
        var duplicate = await RunPhaseAsync(variant.Name, "claim (duplicate)", inFlight, phase, async _ =>
        {
            var key = keys[(int)((uint)Interlocked.Increment(ref next) % (uint)keys.Length)];
            var (outcome, _) = await variant.ClaimAsync(key, DedupKey.NewOwnerToken(), fingerprint);
            Expect(outcome == ClaimOutcome.Duplicate, $"{variant.Name}: a claim of a completed key answered {outcome}");
            return true;
        });

        return [claim, complete with { BytesPerRecord = Stats.Round(bytesPerRecord, 0) }, duplicate];
    }

    /// <summary>Runs <paramref name="call"/> from <paramref name="inFlight"/> loops until the time is up or a call returns false.</summary>
    /// <remarks>Under callgrind: a fixed number of calls instead, and the instructions they cost the server.</remarks>
    async Task<ScriptRow> RunPhaseAsync(string variant, string operation, int inFlight, TimeSpan duration, Func<int, Task<bool>> call)
    {
        var counted = callgrind is not null && operation != "warm-up";
        var maxCalls = counted ? CallgrindCalls : int.MaxValue;
        if (counted)
            duration = TimeSpan.FromHours(1);
        var before = await gauges.ReadAsync();
        if (counted)
            await callgrind!.ZeroAsync();
        var clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var (tickets, calls) = (0, 0);
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(worker => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline && Interlocked.Increment(ref tickets) <= maxCalls && await call(worker))
                Interlocked.Increment(ref calls);
        })));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime - clientBefore;
        var instructions = counted ? await callgrind!.InstructionsAsync() : 0;
        var after = await gauges.ReadAsync();

        var serverCalls = Scripts.Sum(c => after.CallsOf(c) - before.CallsOf(c));
        var serverUsec = Scripts.Sum(c => after.UsecOf(c) - before.UsecOf(c));
        return new ScriptRow(
            variant,
            operation,
            inFlight,
            Rounds: 1,
            calls,
            Math.Round(seconds, 3),
            Math.Round(calls / seconds, 0),
            // Per transition, not per script call: a batch of keys (evalsha-batched with calls in flight) is one call.
            calls == 0 ? 0 : Math.Round((double)serverUsec / calls, 2),
            calls == 0 ? 0 : Math.Round((after.CpuSeconds - before.CpuSeconds) * 1e6 / calls, 2),
            calls == 0 ? 0 : Math.Round(clientCpu.TotalMicroseconds / calls, 2))
        {
            InstructionsPerCall = !counted || calls == 0 ? null : Math.Round((double)instructions / calls, 0),
            ScriptCallsPerTransition = calls == 0 ? 0 : Math.Round((double)serverCalls / calls, 3),
        };
    }

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
        if (rows.Any(r => r.InstructionsPerCall is not null))
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Under callgrind: {CallgrindCalls} transitions per row, 8 in flight; instructions the server ran inside EVALSHA/EVAL/FCALL, per transition (evalsha-batched batches the transitions in flight: script calls per transition below 1)."));
            text.AppendLine();
            text.AppendLine("| script call | sent as | instructions/transition | script calls/transition |");
            text.AppendLine("|---|---|---|---|");
            foreach (var r in rows)
                text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Operation} | {r.Variant} | {r.InstructionsPerCall:0} | {r.ScriptCallsPerTransition:0.###} |"));
            return text.ToString();
        }

        text.AppendLine("Median over rounds, (min-max) the spread.");
        text.AppendLine();
        text.AppendLine("Per transition (a claim or a completion): evalsha is the store as configured by default, one script call each; evalsha-batched sends the transitions in flight as batches (RedisBatchSize 64).");
        text.AppendLine();
        text.AppendLine("| script call | sent as | in flight | calls/s | server us/call (commandstats) | Redis CPU us/call (INFO cpu) | client CPU us/call | bytes/record | rounds |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows.OrderBy(r => r.InFlight).ThenBy(r => r.Operation, StringComparer.Ordinal).ThenBy(r => r.Variant, StringComparer.Ordinal))
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Operation} | {r.Variant} | {r.InFlight} | {r.CallsPerSec:0} ({r.CallsPerSecMin:0}-{r.CallsPerSecMax:0}) | {r.ServerUsPerCall:0.00} ({r.ServerUsPerCallMin:0.00}-{r.ServerUsPerCallMax:0.00}) | {r.RedisCpuUsPerCall:0.0} ({r.RedisCpuUsPerCallMin:0.0}-{r.RedisCpuUsPerCallMax:0.0}) | {r.ClientCpuUsPerCall:0.0} ({r.ClientCpuUsPerCallMin:0.0}-{r.ClientCpuUsPerCallMax:0.0}) | {(r.BytesPerRecord is { } b ? b.ToString("0", CultureInfo.InvariantCulture) : "-")} | {r.Rounds} |"));
        }

        return text.ToString();
    }

    /// <summary>One way of sending the claim and complete scripts.</summary>
    interface IScriptCalls
    {
        string Name { get; }

        Task LoadAsync();

        Task<(ClaimOutcome Outcome, long Epoch)> ClaimAsync(string key, string owner, string fingerprint);

        Task<bool> CompleteAsync(string key, string owner, long epoch);
    }

    /// <summary>The library's store: EVALSHA, as a worker sends it.</summary>
    sealed class StoreCalls(RedisDedupStore store, string name) : IScriptCalls
    {
        public string Name => name;

        public Task LoadAsync() => Task.CompletedTask;

        public async Task<(ClaimOutcome Outcome, long Epoch)> ClaimAsync(string key, string owner, string fingerprint)
        {
            var result = await store.ClaimAsync(key, owner, fingerprint, Lease, Retention, CancellationToken.None);
            return (result.Outcome, result.Epoch);
        }

        public async Task<bool> CompleteAsync(string key, string owner, long epoch) =>
            await store.CompleteAsync(key, owner, epoch, ReadOnlyMemory<byte>.Empty, Retention, CancellationToken.None);
    }

    /// <summary>
    /// The same script bodies as one Redis Functions library, called with FCALL and the arguments the store sends.
    /// A function takes its flags from registration, so claim (no shebang, an EVAL script's compatibility mode)
    /// becomes a function without allow-oom: at maxmemory it would refuse even a duplicate.
    /// </summary>
    sealed class FunctionCalls(IDatabase database) : IScriptCalls
    {
        static readonly long LeaseMs = (long)Lease.TotalMilliseconds;
        static readonly long RetentionMs = (long)Retention.TotalMilliseconds;
        static readonly RedisValue Channel = Prefix + "__events";

        public string Name => "fcall";

        public Task LoadAsync() => database.ExecuteAsync("FUNCTION", "LOAD", "REPLACE",
            "#!lua name=dedup_bench\n" + Function("dedup_claim", RedisScripts.Claim) + Function("dedup_complete", RedisScripts.Complete));

        public async Task<(ClaimOutcome Outcome, long Epoch)> ClaimAsync(string key, string owner, string fingerprint)
        {
            // The store's arguments: owner, fingerprint, lease, and the new claim's TTL (at least two leases).
            var reply = await database.ExecuteAsync("FCALL", "dedup_claim", 1, key, owner, fingerprint, LeaseMs, Math.Max(RetentionMs, 2 * LeaseMs));
            if (reply.Resp2Type == ResultType.Integer)
                return (ClaimOutcome.Claimed, (long)reply);
            var parts = (RedisResult[])reply!;
            return ((ClaimOutcome)(int)parts[0], (long)parts[1]);
        }

        public async Task<bool> CompleteAsync(string key, string owner, long epoch) =>
            (long)(await database.ExecuteAsync("FCALL", "dedup_complete", 1, key, owner, epoch, RedisValue.EmptyString, RetentionMs, Channel)) == 1;

        /// <summary>A script body as a registered function: its shebang's flags become the function's.</summary>
        static string Function(string name, string script)
        {
            var flags = "";
            var body = script;
            if (script.StartsWith("#!lua", StringComparison.Ordinal))
            {
                var shebang = script[..script.IndexOf('\n', StringComparison.Ordinal)];
                body = script[(shebang.Length + 1)..];
                var at = shebang.IndexOf("flags=", StringComparison.Ordinal);
                if (at >= 0)
                    flags = string.Join(", ", shebang[(at + 6)..].Split(',').Select(f => $"'{f.Trim()}'"));
            }

            return $"redis.register_function{{function_name='{name}', flags={{{flags}}}, callback=function(KEYS, ARGV)\n{body}\nend}}\n";
        }
    }
}

/// <summary>One script call measured for a fixed time (a row of artifacts/bench/scripts.json); the median over rounds.</summary>
public sealed record ScriptRow(
    [property: JsonPropertyName("variant")] string Variant,
    [property: JsonPropertyName("operation")] string Operation,
    [property: JsonPropertyName("inFlight")] int InFlight,
    [property: JsonPropertyName("rounds")] int Rounds,
    [property: JsonPropertyName("calls")] int Calls,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("callsPerSec")] double CallsPerSec,
    [property: JsonPropertyName("serverUsPerCall")] double ServerUsPerCall,
    [property: JsonPropertyName("redisCpuUsPerCall")] double RedisCpuUsPerCall,
    [property: JsonPropertyName("clientCpuUsPerCall")] double ClientCpuUsPerCall)
{
    [JsonPropertyName("bytesPerRecord")] public double? BytesPerRecord { get; init; }

    /// <summary>Under callgrind: the instructions the server ran inside the script commands, per call.</summary>
    [JsonPropertyName("instructionsPerCall")] public double? InstructionsPerCall { get; init; }

    /// <summary>Script calls the server saw per transition: below 1 when the store batched overlapping calls.</summary>
    [JsonPropertyName("scriptCallsPerTransition")] public double ScriptCallsPerTransition { get; init; }

    [JsonPropertyName("callsPerSecMin")] public double CallsPerSecMin { get; init; } = CallsPerSec;

    [JsonPropertyName("callsPerSecMax")] public double CallsPerSecMax { get; init; } = CallsPerSec;

    [JsonPropertyName("serverUsPerCallMin")] public double ServerUsPerCallMin { get; init; } = ServerUsPerCall;

    [JsonPropertyName("serverUsPerCallMax")] public double ServerUsPerCallMax { get; init; } = ServerUsPerCall;

    [JsonPropertyName("redisCpuUsPerCallMin")] public double RedisCpuUsPerCallMin { get; init; } = RedisCpuUsPerCall;

    [JsonPropertyName("redisCpuUsPerCallMax")] public double RedisCpuUsPerCallMax { get; init; } = RedisCpuUsPerCall;

    [JsonPropertyName("clientCpuUsPerCallMin")] public double ClientCpuUsPerCallMin { get; init; } = ClientCpuUsPerCall;

    [JsonPropertyName("clientCpuUsPerCallMax")] public double ClientCpuUsPerCallMax { get; init; } = ClientCpuUsPerCall;

    /// <summary>The median and min-max of each figure over the rounds of one call, variant and level.</summary>
    public static ScriptRow MedianOf(IReadOnlyList<ScriptRow> rounds)
    {
        double Median(Func<ScriptRow, double> figure) => Stats.Median(rounds.Select(figure)) ?? 0;
        var first = rounds[0];
        return new ScriptRow(
            first.Variant,
            first.Operation,
            first.InFlight,
            rounds.Count,
            (int)Median(r => r.Calls),
            Math.Round(Median(r => r.Seconds), 3),
            Math.Round(Median(r => r.CallsPerSec), 0),
            Math.Round(Median(r => r.ServerUsPerCall), 2),
            Math.Round(Median(r => r.RedisCpuUsPerCall), 2),
            Math.Round(Median(r => r.ClientCpuUsPerCall), 2))
        {
            BytesPerRecord = Stats.Round(Stats.Median(rounds.Select(r => r.BytesPerRecord)), 0),
            ScriptCallsPerTransition = Math.Round(Median(r => r.ScriptCallsPerTransition), 3),
            CallsPerSecMin = rounds.Min(r => r.CallsPerSec),
            CallsPerSecMax = rounds.Max(r => r.CallsPerSec),
            ServerUsPerCallMin = rounds.Min(r => r.ServerUsPerCall),
            ServerUsPerCallMax = rounds.Max(r => r.ServerUsPerCall),
            RedisCpuUsPerCallMin = rounds.Min(r => r.RedisCpuUsPerCall),
            RedisCpuUsPerCallMax = rounds.Max(r => r.RedisCpuUsPerCall),
            ClientCpuUsPerCallMin = rounds.Min(r => r.ClientCpuUsPerCall),
            ClientCpuUsPerCallMax = rounds.Max(r => r.ClientCpuUsPerCall),
        };
    }
}
