using System.CommandLine;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Dedup.Diagnostics;
using Dedup.Worker.Cli;
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
    public static Command Create()
    {
        var payments = CommandOptions.WholeNumber("--payments", "Unique payments, a share of them plain-JSON ExternalPayments.", 2000, 0, 1_000_000);
        var requests = CommandOptions.WholeNumber("--requests", "Unique quote requests.", 400, 0, 1_000_000);
        var externalShare = CommandOptions.Share("--external-share", "Share of the payments sent as plain JSON to external-payments.", 0.2);
        var duplicateShare = CommandOptions.Share("--dup-share", "Share of the messages sent again as an exact copy.", 0.3);
        var concurrentShare = CommandOptions.Share("--concurrent-share", "Share of the copies sent at the same moment as their original.", 0.5);
        var conflicts = CommandOptions.WholeNumber("--conflicts", "Conflicting copies (same MessageId, another amount), sent last.", 3, 0, 1000);
        var concurrency = CommandOptions.WholeNumber("--concurrency", "Batches of messages sent at once.", 16, 1, 1000);
        var seed = CommandOptions.OptionalWholeNumber("--seed", "Seed of the traffic; random when not given (the demo prints it).", 0, int.MaxValue);
        var timeout = CommandOptions.WholeNumber("--timeout", "Seconds the demo may take before it gives up and fails.", 50, 1, 3600, "SECONDS");
        var settings = SettingsArgument.Create();
        var command = new Command("demo",
            """
            The embedded demo: the worker's consumers and dedup filter on MassTransit's in-memory transport and store,
            driven by built-in traffic; needs no RabbitMQ or Redis. Exit 0 when every unique message ran exactly once.
            Settings: --Dedup:Key=value (e.g. --Dedup:Lease=00:00:05).
            """)
        {
            payments, requests, externalShare, duplicateShare, concurrentShare, conflicts, concurrency, seed, timeout, settings,
        };
        command.SetAction(parseResult =>
        {
            var seedValue = parseResult.GetValue(seed) ?? Random.Shared.Next();
            var plan = TrafficPlan.Create(
                parseResult.GetValue(payments),
                parseResult.GetValue(requests),
                parseResult.GetValue(externalShare),
                parseResult.GetValue(duplicateShare),
                parseResult.GetValue(concurrentShare),
                parseResult.GetValue(conflicts),
                new Random(seedValue));
            var run = new DemoRun(plan, seedValue, parseResult.GetValue(concurrency), TimeSpan.FromSeconds(parseResult.GetValue(timeout)));
            return RunAsync(run, parseResult.Values(settings), RunConsole.ForStandardOutput());
        });
        return command;
    }

    public static async Task<int> RunAsync(DemoRun run, string[] settings, RunConsole console)
    {
        var (plan, seed, concurrency, timeout) = run;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = settings, ContentRootPath = AppContext.BaseDirectory });
        console.ConfigureLogging(builder.Logging);
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

        console.WriteLine($"Dedup demo: MassTransit in-memory transport, in-memory dedup store and ledger (seed {seed}).");
        console.WriteLine($"Sending {plan.Messages} messages: {plan.PaymentIds.Count} payments, {plan.QuoteIds.Count} quote requests, {plan.Duplicates} duplicates ({plan.ConcurrentDuplicates} sent together with their original), {plan.Conflicts.Count} conflicting copies.");

        var ledger = host.Services.GetRequiredService<ILedger>();
        var driver = new TrafficDriver(new MassTransitSender(bus, bus.Address, externalSender: null), concurrency, rate: 0);
        var started = Stopwatch.GetTimestamp();
        using var deadline = new CancellationTokenSource(timeout);
        var finished = true;
        TimeSpan elapsed;
        var progress = RunProgress.Start(console, TimeSpan.FromMilliseconds(250),
            () => $"sent {driver.Sent}/{plan.Messages}  processed {probe.Settled}  executed {outcomes[DedupOutcomes.First]}  skipped {Skipped(outcomes)}  replies {replies.Total}",
            new Gauge("sent", () => driver.Sent, plan.Messages),
            new Gauge("processed", () => probe.Settled, plan.Messages));
        await using (progress)
        {
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

            elapsed = Stopwatch.GetElapsedTime(started);
            progress.Report(finished ? "done" : "timed out");
        }

        await host.StopAsync();

        var report = await DemoReport.CreateAsync(plan, ledger, outcomes, replies, probe, driver.Sent, elapsed, finished);
        report.Write(console);
        return report.Passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    internal static long Skipped(OutcomeCounter outcomes) => outcomes[DedupOutcomes.Duplicate] + outcomes[DedupOutcomes.InFlightWaited];
}

/// <summary>What a demo run sends, and how long it may take.</summary>
internal sealed record DemoRun(TrafficPlan Plan, int Seed, int Concurrency, TimeSpan Timeout);
