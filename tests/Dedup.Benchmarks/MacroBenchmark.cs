using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dedup.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// Runs every (transport, prefetch, workload, variant) row in this one process: the same consumer with no dedup,
/// with the dedup filter on Redis, and with the seed's algorithm on Redis.
/// </summary>
public sealed partial class MacroBenchmark(RedisServer redisServer, RabbitMqServer? rabbit, bool quick)
{
    static readonly string[] Variants = ["none", "dedup", "seed"];
    static readonly string[] WorkloadNames = ["unique", "dup30", "burst"];

    // Dedup's round trips are its script calls (the commands inside a script run on the server, in the same round
    // trip); the seed sends no scripts, so each of its commands is a round trip.
    static readonly string[] ScriptCommands = ["evalsha", "eval"];

    public async Task<List<Row>> RunAsync()
    {
        var rows = new List<Row>();
        var transports = new List<(string Transport, int Prefetch)> { ("inmemory", 32) };
        if (rabbit is not null)
            transports.AddRange([("rabbitmq", 32), ("rabbitmq", 128)]);

        foreach (var (transport, prefetch) in transports)
        {
            foreach (var workload in WorkloadNames)
            {
                var messages = workload == "burst"
                    ? (quick ? 100 : 500) // the seed's 100 ms polling makes bursts slow; a burst row is about ids, not volume
                    : transport == "inmemory" ? (quick ? 2000 : 20000) : (quick ? 400 : 4000);
                var group = new List<Row>();
                foreach (var variant in Variants)
                {
                    var row = await RunRowAsync(transport, prefetch, workload, variant, messages);
                    group.Add(row);
                    Console.WriteLine($"  {transport,-8} prefetch {prefetch,3} {workload,-6} {variant,-5} {row.MsgPerSec,8:0} msg/s  p50 {row.P50Ms,7:0.00} ms  p99 {row.P99Ms,8:0.00} ms  cmds/msg {row.RedisCommandsPerMessage,5:0.00}  rt/msg {row.RedisRoundTripsPerMessage,5:0.00}  B/record {row.RedisBytesPerRecord,6:0}  exec {row.Executions}/{row.Unique}{(row.BurstWakeP50Ms is { } w ? $"  wake p50 {w:0.0} ms" : "")}");
                }

                var none = group.Single(r => r.Variant == "none").MsgPerSec;
                foreach (var row in group)
                    row.RatioToNone = none > 0 ? Math.Round(row.MsgPerSec / none, 3) : 0;
                rows.AddRange(group);
            }
        }

        return rows;
    }

    async Task<Row> RunRowAsync(string transport, int prefetch, string workload, string variant, int messages)
    {
        var repeats = quick ? 1 : 3;
        var runs = new List<Row>();
        for (var i = 0; i < repeats; i++)
            runs.Add(await RunOnceAsync(transport, prefetch, workload, variant, messages));

        // The median run by throughput stands for the row.
        return runs.OrderBy(r => r.MsgPerSec).ElementAt(runs.Count / 2);
    }

    async Task<Row> RunOnceAsync(string transport, int prefetch, string workload, string variant, int messages)
    {
        await redisServer.CliAsync("FLUSHALL");
        var queue = $"bench-{transport}-{workload}-{variant}-{Guid.NewGuid().ToString("N")[..6]}";
        var recorder = new Recorder();
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redisServer.ConnectionString);
        await using var provider = BuildBus(transport, prefetch, variant, queue, recorder, connection);
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:" + queue));

            // Warm-up: JIT, connections, script cache, subscription.
            var warmup = Workloads.Build("unique", Math.Min(200, messages / 4), new Random(1));
            await SendAsync(endpoint, recorder, warmup, 0);

            var groups = Workloads.Build(workload, messages, new Random(42));
            var workMs = workload == "burst" ? Workloads.BurstWorkMs : 0;
            var memoryBefore = await UsedMemoryAsync();
            var statsBefore = await CommandStatsAsync();
            var started = Stopwatch.GetTimestamp();
            await SendAsync(endpoint, recorder, groups, workMs);
            var finished = recorder.Deliveries.Max(d => d.Done);
            var statsAfter = await CommandStatsAsync();
            var memoryAfter = await UsedMemoryAsync();

            var total = groups.Sum(g => g.Length);
            var unique = groups.SelectMany(g => g).Distinct().Count();
            var latencies = recorder.Deliveries.Select(d => d.LatencyMs).Order().ToArray();
            var commands = statsAfter.Where(s => s.Key is not ("info" or "flushall" or "ping" or "client" or "config" or "cluster" or "subscribe"))
                .Sum(s => s.Value - statsBefore.GetValueOrDefault(s.Key));
            var roundTrips = variant == "dedup" ? ScriptCommands.Sum(c => statsAfter.GetValueOrDefault(c) - statsBefore.GetValueOrDefault(c)) : commands;

            return new Row
            {
                Transport = transport,
                Prefetch = prefetch,
                Workload = workload,
                Variant = variant,
                Messages = total,
                MsgPerSec = Math.Round(total / Stopwatch.GetElapsedTime(started, finished).TotalSeconds, 1),
                P50Ms = Math.Round(Percentile(latencies, 0.50), 3),
                P99Ms = Math.Round(Percentile(latencies, 0.99), 3),
                RedisCommandsPerMessage = Math.Round((double)commands / total, 3),
                RedisRoundTripsPerMessage = Math.Round((double)roundTrips / total, 3),
                RedisBytesPerRecord = variant == "none" ? 0 : Math.Round((double)(memoryAfter - memoryBefore) / unique, 1),
                Unique = unique,
                Executions = recorder.Executions,
                BurstWakeP50Ms = workload == "burst" ? Math.Round(BurstWakeP50(recorder), 2) : null,
            };
        }
        finally
        {
            await bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        }
    }

    ServiceProvider BuildBus(string transport, int prefetch, string variant, string queue, Recorder recorder, IConnectionMultiplexer redis)
    {
        var services = new ServiceCollection();
        services.AddSingleton(recorder);
        if (variant == "dedup")
        {
            services.AddDedup(o =>
            {
                o.KeyPrefix = "bench:";
                o.InFlightWait = TimeSpan.FromSeconds(60);
            });
            services.AddDedupRedisStore(_ => redis);
        }

        services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddConsumeObserver(_ => recorder);
            x.AddConsumer<BenchConsumer>();

            void Endpoint(IReceiveEndpointConfigurator e, IBusRegistrationContext context)
            {
                e.ConcurrentMessageLimit = prefetch;
                if (variant == "dedup")
                    e.UseDedup(context);
                e.ConfigureConsumer<BenchConsumer>(context, c =>
                {
                    if (variant == "seed")
                        c.Message<BenchMessage>(m => m.UseFilter(new SeedFilter<BenchMessage>(redis)));
                });
            }

            if (transport == "inmemory")
            {
                x.UsingInMemory((context, cfg) => cfg.ReceiveEndpoint(queue, e => Endpoint(e, context)));
            }
            else
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(rabbit!.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                    {
                        h.Username(rabbit.Username);
                        h.Password(rabbit.Password);
                    });
                    cfg.ReceiveEndpoint(queue, e =>
                    {
                        e.PrefetchCount = prefetch;
                        Endpoint(e, context);
                    });
                });
            }
        });
        return services.BuildServiceProvider();
    }

    static async Task SendAsync(ISendEndpoint endpoint, Recorder recorder, List<Guid[]> groups, int workMs)
    {
        recorder.Reset(groups.Sum(g => g.Length));
        if (groups.Any(g => g.Length > 1))
        {
            // Bursts go one id at a time, so every copy is in flight while its original runs and the figure is the
            // wake-up, not queueing behind other ids.
            foreach (var group in groups)
            {
                await Task.WhenAll(group.Select(id => endpoint.Send(new BenchMessage(id, workMs), ctx => Stamp(ctx, id))));
                for (var i = 0; i < group.Length; i++)
                    await recorder.Delivered.WaitAsync(TimeSpan.FromMinutes(1));
            }

            await recorder.AllDelivered.WaitAsync(TimeSpan.FromMinutes(5));
            return;
        }

        using var inFlight = new SemaphoreSlim(64);
        var sends = new List<Task>(groups.Count);
        foreach (var group in groups)
        {
            await inFlight.WaitAsync();
            sends.Add(SendGroupAsync(group));
        }

        await Task.WhenAll(sends);
        await recorder.AllDelivered.WaitAsync(TimeSpan.FromMinutes(5));

        async Task SendGroupAsync(Guid[] group)
        {
            try
            {
                // Copies of one id go out together: a burst of concurrent duplicates.
                await Task.WhenAll(group.Select(id => endpoint.Send(new BenchMessage(id, workMs), ctx => Stamp(ctx, id))));
            }
            finally
            {
                inFlight.Release();
            }
        }
    }

    static void Stamp(SendContext context, Guid id)
    {
        context.MessageId = id;
        context.Headers.Set(BenchMessage.SentHeader, Stopwatch.GetTimestamp());
    }

    /// <summary>For bursts: how long after the original's work finished each waiting copy finished (p50, ms).</summary>
    static double BurstWakeP50(Recorder recorder)
    {
        var waits = new List<double>();
        foreach (var group in recorder.Deliveries.GroupBy(d => d.Key))
        {
            if (!recorder.ExecutionDone.TryGetValue(group.Key, out var done))
                continue;
            var ordered = group.OrderBy(d => d.Done).ToList();
            waits.AddRange(ordered.Skip(1).Select(d => Stopwatch.GetElapsedTime(done, d.Done).TotalMilliseconds));
        }

        return Percentile([.. waits.Order()], 0.5);
    }

    static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    async Task<long> UsedMemoryAsync() =>
        long.Parse(UsedMemory().Match(await redisServer.CliAsync("INFO", "memory")).Groups[1].Value, CultureInfo.InvariantCulture);

    async Task<Dictionary<string, long>> CommandStatsAsync() =>
        CommandCalls().Matches(await redisServer.CliAsync("INFO", "commandstats"))
            .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"used_memory:(\d+)")]
    private static partial Regex UsedMemory();

    [GeneratedRegex(@"cmdstat_([a-z|]+):calls=(\d+)")]
    private static partial Regex CommandCalls();
}
