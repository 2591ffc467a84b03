using System.Diagnostics;
using System.Runtime;
using Dedup.Testing;

namespace Dedup.Benchmarks;

/// <summary>
/// Runs every (transport, prefetch, workload, variant) row in this one process: the same consumer with no dedup, with
/// the dedup filter on Redis, and with the seed's algorithm on Redis. Each row runs for a fixed time after a warm-up;
/// within a round the variants follow each other for each workload (none first, the others in reverse order in even
/// rounds), and the rounds repeat, so a ratio compares rows measured moments apart and the spread over rounds shows how far a figure can be trusted.
/// </summary>
public sealed class MacroBenchmark(RedisServer redisServer, RabbitMqServer? rabbit, RedisGauges gauges, BenchSettings settings)
{
    // Dedup's round trips are its script calls (the commands inside a script run on the server, in the same round
    // trip); the seed sends no scripts, so each of its commands is a round trip.
    static readonly string[] ScriptCommands = ["evalsha", "eval"];

    static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(60);

    // Warm-up rounds continue until one compiles fewer methods than this, or there have been MaxWarmupRounds.
    const int SettledJitMethods = 100;
    const int MaxWarmupRounds = 5;

    public async Task<List<Measurement>> RunAsync()
    {
        var measurements = new List<Measurement>();
        var transports = new List<(string Transport, int Prefetch)> { ("inmemory", 32) };
        if (rabbit is not null)
            transports.AddRange(settings.Quick ? [("rabbitmq", 128)] : [("rabbitmq", 32), ("rabbitmq", 128)]);

        foreach (var (transport, prefetch) in transports)
        {
            var buses = new List<VariantBus>();
            try
            {
                foreach (var variant in VariantBus.Variants)
                    buses.Add(await VariantBus.StartAsync(transport, prefetch, variant, redisServer, rabbit));
                await WarmUpAsync(transport, prefetch, buses);

                for (var round = 1; round <= settings.Rounds; round++)
                {
                    foreach (var workload in Workload.Names)
                    {
                        foreach (var bus in InRoundOrder(buses, round))
                        {
                            var m = await RunRowAsync(transport, prefetch, bus, Workload.Create(workload, new Random(41 + round)), settings.RowWarmup, settings.RowWindow, round);
                            measurements.Add(m);
                            Console.WriteLine(
                                $"  r{round} {transport,-8} prefetch {prefetch,3} {workload,-6} {bus.Variant,-5} {m.MsgPerSec,8:0} msg/s  p50 {m.P50Ms,7:0.00} ms  p99 {m.P99Ms,8:0.00} ms  " +
                                $"cpu/msg worker {m.WorkerCpuUsPerMessage,6:0.0} us  redis {m.RedisCpuUsPerMessage,5:0.0} us  rt/msg {m.RedisRoundTripsPerMessage,5:0.00}  " +
                                $"exec {m.RowExecutions}/{m.RowUniqueIds}  jit {m.MethodsCompiled}{(m.BurstWakeP50Ms is { } w ? $"  wake p50 {w:0.0} ms" : "")}");
                        }
                    }
                }
            }
            finally
            {
                foreach (var bus in buses)
                    await bus.DisposeAsync();
            }
        }

        return measurements;
    }

    /// <summary>
    /// The variants in the order a round runs them: none first (every ratio divides by it), then the others, in reverse
    /// in every even round, so no variant always runs right after another (this machine's speed drifts within minutes,
    /// and a row's position alone moved its figures in order-balanced soak runs).
    /// </summary>
    internal static IEnumerable<VariantBus> InRoundOrder(List<VariantBus> buses, int round) =>
        round % 2 == 1 ? buses : buses.Take(1).Concat(buses.Skip(1).Reverse());

    /// <summary>
    /// One variant on one transport for a long row (<c>-- soak</c>): a profiler attaches to this process (its id is
    /// printed) and sees only that variant's traffic. Warms up like a full run first; prints the row's figures.
    /// </summary>
    public async Task<Measurement> SoakAsync(string transport, int prefetch, string variant, string workload, TimeSpan window, bool allocationTypes = false)
    {
        await using var bus = await VariantBus.StartAsync(transport, prefetch, variant, redisServer, rabbit);
        await WarmUpAsync(transport, prefetch, [bus]);
        Console.WriteLine($"  soak: process {Environment.ProcessId}, {transport} prefetch {prefetch} {workload} {variant}, {window.TotalSeconds:0} s");
        using var sampler = allocationTypes ? new AllocationSampler() : null;
        sampler?.Start();
        var m = await RunRowAsync(transport, prefetch, bus, Workload.Create(workload, new Random(41)), settings.RowWarmup, window, round: 1);
        sampler?.Stop();
        foreach (var (type, share) in sampler?.Top(60) ?? [])
            Console.WriteLine($"  alloc {share,6:P1}  {share * m.AllocatedBytesPerMessage,6:0} B/msg  {type}");
        Console.WriteLine(
            $"  soak: {m.MsgPerSec:0} msg/s  p50 {m.P50Ms:0.00} ms  p99 {m.P99Ms:0.00} ms  cpu/msg worker {m.WorkerCpuUsPerMessage:0.0} us  " +
            $"redis {m.RedisCpuUsPerMessage:0.0} us  rt/msg {m.RedisRoundTripsPerMessage:0.00}  alloc/msg {m.AllocatedBytesPerMessage:0} B  pool items/msg {m.PoolWorkItemsPerMessage:0.00}");
        return m;
    }

    /// <summary>
    /// Unmeasured rounds before a transport's first row, so the filter's duplicate and wait paths, the seed's polling and
    /// the transport's code reach the JIT's optimised tier before any row counts: the first through every workload, the
    /// next through unique and dup30 until a round compiles fewer than <see cref="SettledJitMethods"/> methods. One round
    /// is not enough: the runtime counts calls for tier 1 only once no new method has been compiled for a while, and with
    /// dynamic PGO a method is compiled twice more on its way up. After a single warm-up round, round 1's rows in quick
    /// runs compiled hundreds of methods inside their windows and used 2 to 4 times round 2's CPU per message; with
    /// tiered compilation off the two rounds agreed.
    /// </summary>
    async Task WarmUpAsync(string transport, int prefetch, List<VariantBus> buses)
    {
        for (var pass = 1; pass <= MaxWarmupRounds; pass++)
        {
            var compiled = JitInfo.GetCompiledMethodCount();
            foreach (var workload in pass == 1 ? Workload.Names : ["unique", "dup30"])
            {
                foreach (var bus in buses)
                    await RunRowAsync(transport, prefetch, bus, Workload.Create(workload, new Random(41)), settings.BusWarmup, TimeSpan.Zero, round: 0);
            }

            compiled = JitInfo.GetCompiledMethodCount() - compiled;
            Console.WriteLine($"  {transport} prefetch {prefetch}: warm-up round {pass}, {compiled} methods compiled");
            if (compiled < SettledJitMethods)
                return;
        }
    }

    async Task<Measurement> RunRowAsync(string transport, int prefetch, VariantBus bus, Workload workload, TimeSpan warmup, TimeSpan window, int round)
    {
        // Garbage from the previous row is collected now, not inside this row's window (it would count as this row's CPU).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        await gauges.FlushAllAsync();
        var memoryBefore = await gauges.UsedMemoryAsync();

        var credits = new SemaphoreSlim(workload.CopiesPerId > 1 ? workload.CopiesPerId : BenchSettings.InFlight(prefetch));
        var recorder = bus.Recorder;
        recorder.Reset(credits);
        var sender = new Sender(bus.Endpoint, workload, credits);
        using var stop = new CancellationTokenSource();
        var sending = Task.Run(() => sender.RunAsync(stop.Token));

        await WaitAsync(Stopwatch.GetTimestamp(), warmup, sender.Failed, recorder.AllDelivered);
        var start = await ReadAsync(recorder);
        await WaitAsync(start.Timestamp, window, sender.Failed, recorder.AllDelivered);
        var end = await ReadAsync(recorder);

        await stop.CancelAsync();
        var sent = await sending;
        recorder.ExpectTotal(sent);
        var drained = await Task.WhenAny(recorder.AllDelivered, sender.Failed, Task.Delay(DrainTimeout));
        await drained; // rethrows a fault or a failed send
        if (drained != recorder.AllDelivered)
        {
            throw new TimeoutException(
                $"{transport} prefetch {prefetch} {workload.Name} {bus.Variant}: {sent - recorder.DeliveryCount} of {sent} messages were never delivered " +
                $"within {DrainTimeout.TotalSeconds:0} s of the last send.");
        }

        var memoryAfter = await gauges.UsedMemoryAsync();
        var seconds = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
        var messages = end.Deliveries - start.Deliveries;
        var latencies = recorder.Deliveries
            .Where(d => d.Done > start.Timestamp && d.Done <= end.Timestamp)
            .Select(d => d.LatencyMs)
            .Order()
            .ToArray();
        var commands = RedisGauges.MessageCommands(start.Redis, end.Redis);
        var scriptCalls = ScriptCommands.Sum(c => end.Redis.CallsOf(c) - start.Redis.CallsOf(c));
        var records = workload.UniqueIds;

        return new Measurement
        {
            Transport = transport,
            Prefetch = prefetch,
            Workload = workload.Name,
            Variant = bus.Variant,
            Round = round,
            Seconds = seconds,
            Messages = messages,
            Executions = end.Executions - start.Executions,
            MsgPerSec = seconds > 0 ? messages / seconds : 0,
            P50Ms = Stats.Percentile(latencies, 0.50),
            P90Ms = Stats.Percentile(latencies, 0.90),
            P99Ms = Stats.Percentile(latencies, 0.99),
            RedisCommandsPerMessage = PerMessage(commands, messages),
            RedisRoundTripsPerMessage = PerMessage(bus.Variant.StartsWith("dedup", StringComparison.Ordinal) ? scriptCalls : commands, messages),
            WorkerCpuUsPerMessage = PerMessage((end.ProcessCpu - start.ProcessCpu).TotalMicroseconds, messages),
            AllocatedBytesPerMessage = PerMessage(end.Allocated - start.Allocated, messages),
            PoolWorkItemsPerMessage = PerMessage(end.PoolWorkItems - start.PoolWorkItems, messages),
            RedisCpuUsPerMessage = PerMessage((end.Redis.CpuSeconds - start.Redis.CpuSeconds) * 1e6, messages),
            RedisBytesPerRecord = bus.Variant == "none" || records < BenchSettings.MinRecordsForBytes || memoryAfter <= memoryBefore
                ? null
                : (double)(memoryAfter - memoryBefore) / records,
            RowUniqueIds = records,
            RowMessages = sent,
            RowExecutions = recorder.Executions,
            MethodsCompiled = end.MethodsCompiled - start.MethodsCompiled,
            BurstWakeP50Ms = workload.CopiesPerId > 1 ? BurstWakeP50(recorder, start.Timestamp, end.Timestamp) : null,
        };
    }

    /// <summary>Counters, process CPU and the Redis server's CPU and command statistics, read together.</summary>
    async Task<Reading> ReadAsync(Recorder recorder)
    {
        var timestamp = Stopwatch.GetTimestamp();
        var deliveries = recorder.DeliveryCount;
        var executions = recorder.Executions;
        // The same quantity as Process.TotalProcessorTime, read through getrusage (microseconds) rather than
        // /proc/self/stat (10 ms ticks): a 1 s quick-mode window would otherwise be off by up to 1%.
        var cpu = Environment.CpuUsage.TotalTime;
        var compiled = JitInfo.GetCompiledMethodCount();
        var allocated = GC.GetTotalAllocatedBytes();
        var workItems = ThreadPool.CompletedWorkItemCount;
        return new Reading(timestamp, deliveries, executions, cpu, compiled, allocated, workItems, await gauges.ReadAsync());
    }

    /// <summary>
    /// Waits until <paramref name="duration"/> has passed since <paramref name="from"/> by the Stopwatch, or one of
    /// <paramref name="failures"/> completes. A timer may fire a few ms early (it runs on a coarse clock), and a
    /// window that came out at 0.996 s would lose its ratio.
    /// </summary>
    static async Task WaitAsync(long from, TimeSpan duration, params Task[] failures)
    {
        for (var left = duration; left > TimeSpan.Zero; left = duration - Stopwatch.GetElapsedTime(from))
        {
            if (await Task.WhenAny([Task.Delay(left), .. failures]) is var done && failures.Contains(done))
                return;
        }
    }

    /// <summary>For bursts: how long after the original's work finished each waiting copy finished (p50, ms), for ids done inside the window.</summary>
    static double BurstWakeP50(Recorder recorder, long from, long to)
    {
        var waits = new List<double>();
        foreach (var group in recorder.Deliveries.GroupBy(d => d.Key))
        {
            if (!recorder.ExecutionDone.TryGetValue(group.Key, out var done) || done <= from || done > to)
                continue;
            var ordered = group.OrderBy(d => d.Done).ToList();
            waits.AddRange(ordered.Skip(1).Select(d => Stopwatch.GetElapsedTime(done, d.Done).TotalMilliseconds));
        }

        return Stats.Percentile([.. waits.Order()], 0.5);
    }

    static double PerMessage(double total, int messages) => messages == 0 ? 0 : total / messages;

    readonly record struct Reading(long Timestamp, int Deliveries, int Executions, TimeSpan ProcessCpu, long MethodsCompiled, long Allocated, long PoolWorkItems, RedisReading Redis);
}
