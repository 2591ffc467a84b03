using System.Diagnostics;
using System.Diagnostics.Metrics;
using Dedup.Diagnostics;
using Dedup.Worker.Contracts;
using Dedup.Worker.Hosting;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using Dedup.Worker.Traffic;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Demo;

/// <summary>
/// The embedded demo: the worker's consumers and dedup filter on MassTransit's in-memory transport with the in-memory
/// store and ledger, driven by built-in traffic (payments, plain-JSON payments, quote requests, duplicates, a few
/// conflicting copies). Needs nothing but the .NET SDK. Exit 0 when every unique message ran exactly once and
/// nothing was lost.
/// </summary>
internal static class DemoCommand
{
    public static readonly IReadOnlySet<string> OptionNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "payments", "requests", "external-share", "dup-share", "concurrent-share", "conflicts", "concurrency", "seed", "timeout",
    };

    public static async Task<int> RunAsync(Options options)
    {
        var seed = options.OptionalInt("seed", 0, int.MaxValue) ?? Random.Shared.Next();
        var plan = TrafficPlan.Create(
            options.Int("payments", 2000, 0, 1_000_000),
            options.Int("requests", 400, 0, 1_000_000),
            options.Share("external-share", 0.2),
            options.Share("dup-share", 0.3),
            options.Share("concurrent-share", 0.5),
            options.Int("conflicts", 3, 0, 1000),
            new Random(seed));
        var concurrency = options.Int("concurrency", 16, 1, 1000);
        var timeout = TimeSpan.FromSeconds(options.Int("timeout", 50, 1, 3600));

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = options.ConfigurationArgs, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.AddFilter(null, LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("MassTransit", LogLevel.Critical); // the deliberate conflicts would print fault traces
        builder.Logging.AddFilter("Dedup", LogLevel.Warning);

        // Consumers do a little work so copies sent together overlap: the duplicate waits for the one in flight.
        var worker = new WorkerSettings { PaymentWorkTime = TimeSpan.FromMilliseconds(2), QuoteWorkTime = TimeSpan.FromMilliseconds(1), ConcurrentMessageLimit = 32, PrefetchCount = 64 };
        builder.Services.AddSingleton(worker);
        builder.Services.AddSingleton<ILedger, InMemoryLedger>();
        builder.Services.AddWorkerTakeoverChecks();
        builder.Services.AddDedup(o =>
        {
            WorkerEndpoints.ConfigureDedup(o);
            o.Exclude<QuoteIssued>();
        });
        builder.Services.AddDedupConfiguration(builder.Configuration);
        builder.Services.AddDedupInMemoryStore();
        builder.Services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.AddWorkerConsumers();
            x.UsingInMemory((context, cfg) => cfg.ConfigureWorkerEndpoints(context, worker));
        });

        using var host = builder.Build();
        if (host.ValidateSettings() is { } invalid)
            return invalid;

        using var outcomes = new OutcomeCounter(host.Services.GetRequiredService<IMeterFactory>());
        var probe = new DemoProbe();
        var replies = new ReplyRecorder();
        await host.StartAsync();

        var bus = host.Services.GetRequiredService<IBus>();
        bus.ConnectReceiveObserver(probe);
        bus.ConnectSendObserver(probe);
        bus.ConnectHandler<QuoteIssued>(replies.Record);

        Console.WriteLine($"Dedup demo: MassTransit in-memory transport, in-memory dedup store and ledger (seed {seed}).");
        Console.WriteLine($"Sending {plan.Messages} messages: {plan.PaymentIds.Count} payments, {plan.QuoteIds.Count} quote requests, {plan.Duplicates} duplicates ({plan.ConcurrentDuplicates} sent together with their original), {plan.Conflicts.Count} conflicting copies.");

        var ledger = host.Services.GetRequiredService<ILedger>();
        var driver = new TrafficDriver(new MassTransitSender(bus, bus.Address, externalSender: null), concurrency, rate: 0);
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(timeout);
        using var progress = new DemoProgress(() =>
            $"sent {driver.Sent}/{plan.Messages}  processed {probe.Settled}  executed {outcomes[DedupOutcomes.First]}  skipped {Skipped(outcomes)}  replies {replies.Total}");

        var finished = true;
        try
        {
            var mainTraffic = plan.Messages - plan.Conflicts.Count;
            await driver.SendAsync(plan.Batches, deadline.Token);
            progress.Report("all sent; waiting for the consumers");
            await probe.WhenSettled(mainTraffic, deadline.Token);

            // Conflicting copies go last, once their originals completed, so what they meet is certain.
            if (plan.Conflicts.Count > 0)
                progress.Report($"sending {plan.Conflicts.Count} conflicting copies: expect as many 'Dedup conflict' errors");
            await driver.SendAsync([.. plan.Conflicts.Select(c => (IReadOnlyList<PlannedMessage>)[c])], deadline.Token);
            await probe.WhenSettled(plan.Messages, deadline.Token);

            // Every reply was sent before its request settled; wait until the requester has them all.
            await replies.WhenReceived(probe.RepliesSent, deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            finished = false;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        progress.Report(finished ? "done" : "timed out");
        progress.Dispose();
        await host.StopAsync();

        var report = await DemoReport.CreateAsync(plan, ledger, outcomes, replies, probe, driver.Sent, elapsed, finished);
        report.Print(Console.Out);
        return report.Passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    internal static long Skipped(OutcomeCounter outcomes) => outcomes[DedupOutcomes.Duplicate] + outcomes[DedupOutcomes.InFlightWaited];
}
